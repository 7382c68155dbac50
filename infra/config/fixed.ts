// Settings with no config key, in one place. Each is a choice the program makes the same way for
// every stack; a renderer or host takes them as inputs like any other, and nothing else writes the
// same value again. Imports nothing.

/**
 * Docker's json-file log rotation: every container the program runs sets it (logOpts), and the setup
 * script makes it the engine's default on the hosts it installs (daemon.json), so neither our
 * containers nor anything else on the machine can fill its disk with logs: at most three files of
 * 10 MB per container. Docker takes both values as strings in daemon.json and logOpts
 * (https://docs.docker.com/engine/logging/drivers/json-file/).
 */
export const DOCKER_LOG_ROTATION = { maxSize: "10m", maxFile: 3 } as const;

/**
 * Seconds the readiness gate waits for cloud-init on a cloud VM. The first boot installs Docker, the
 * NVIDIA driver (built by DKMS for the running kernel) and the container toolkit from the network:
 * minutes, and more on a slow mirror. Past this the gate fails with the tail of the cloud-init log.
 */
export const READINESS_TIMEOUT_SECONDS = 1800;

/**
 * Seconds the SSH gate waits for a new cloud VM to accept SSH and finish its first boot. Its probe
 * waits for cloud-init itself and then for the reboot that loads the driver, so this covers the
 * readiness gate's wait plus a boot, a reboot and the cloud's own provisioning.
 */
export const CLOUD_BOOT_TIMEOUT_SECONDS = 2400;

/** Seconds the SSH gate waits for an operator's own server, which runs already: sshd answers, or the key is wrong. */
export const SERVER_BOOT_TIMEOUT_SECONDS = 120;

/**
 * Where the program writes each remote host's private key and known_hosts on the machine that runs
 * it (infra/hosts/ssh.ts). ssh expands the "~" itself, so the Docker provider's options and the
 * `ssh` output read the same on every operator's machine.
 */
export const SSH_KEY_DIR = "~/.ssh/gpu-hosts";

/**
 * Validity of the stack's CA and of each host's server certificate (infra/service/pki.ts), with how
 * early before expiry `pulumi up` re-issues one (the tls provider's early_renewal_hours: the plan
 * replaces the certificate from then on, hashicorp/terraform-provider-tls
 * internal/provider/common_cert.go modifyPlanIfCertificateReadyForRenewal).
 * - CA: 10 years, renewed by an up in its last year. A renewed CA is a new root that clients must
 *   pin again, so it is long; the preview shows the replacement a year before the old one expires.
 * - Server certificates: 800 days (under the 825 days macOS and iOS accept for a TLS server
 *   certificate: Apple HT210176, "Requirements for trusted certificates in iOS 13 and macOS 10.15"), renewed by an up in their last 90 days.
 *   The clients' pin (the CA) is unchanged by a renewal; the proxy container is replaced to load it.
 */
export const PKI_VALIDITY = {
    ca: { hours: 87600, earlyRenewalHours: 8760 },
    server: { hours: 19200, earlyRenewalHours: 2160 },
} as const;

/**
 * Where a cloud fleet hub mounts its data disk (the disk that outlives the VM: infra/clouds/<cloud>/host.ts),
 * which the host hands the AppStack as GpuHost.dataDir for Redis's data. Beside the setup script's
 * state (/var/lib/gpu-hosts), on no path Docker or the image owns.
 */
export const DATA_DISK_DIR = "/var/lib/gpu-hosts/data";

/**
 * Seconds the data-disk mount waits for the cloud to show the attached disk to the VM (and, after a
 * resize, its new size). An attachment the cloud reports done shows up within seconds; past this the
 * mount fails with the paths it waited for.
 */
export const DATA_DISK_TIMEOUT_SECONDS = 300;
