[ -e "$DONE_MARKER" ] || fail "the setup script did not finish ($DONE_MARKER is missing)"

