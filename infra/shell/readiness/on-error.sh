# errtrace (-E) also traps failures inside functions; report once, from the main shell.
on_error() {
  [ "$BASH_SUBSHELL" -eq 0 ] || return 0
  fail "command failed (exit $1) at line $2: $3"
}
trap 'on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR

