// A fixed SSH host key pair for the tests that render or install one.
/**
 * A VM host key pair as tls.PrivateKey gives it (privateKeyOpenssh, publicKeyOpenssh): a throwaway
 * test key made once with `ssh-keygen -t ed25519`, used nowhere else.
 */
export const HOST_KEY = {
    ed25519Private: [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        "QyNTUxOQAAACAbM0/VV3RmkYlmc4aEcmuXY1tUHf1iB70zAyNbzEWZIAAAAIjvBt8s7wbf",
        "LAAAAAtzc2gtZWQyNTUxOQAAACAbM0/VV3RmkYlmc4aEcmuXY1tUHf1iB70zAyNbzEWZIA",
        "AAAECnQwdLNK4W+qa9H6IHb1501GQ93Od4kQctgrClXGgbeRszT9VXdGaRiWZzhoRya5dj",
        "W1Qd/WIHvTMDI1vMRZkgAAAAAAECAwQF",
        "-----END OPENSSH PRIVATE KEY-----",
        "",
    ].join("\n"),
    ed25519Public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBszT9VXdGaRiWZzhoRya5djW1Qd/WIHvTMDI1vMRZkg\n",
} as const;
