//! Kernel confinement of a command, applied in a freshly exec'd helper process.
//!
//! The parent never restricts itself and never runs code between `fork` and `exec`: it runs
//! `HELPER --sandbox-exec-args… -- CMD…` where HELPER is the ouro binary, whose
//! `__sandbox-exec` entry point ([`helper_main`]) restricts *itself* with Landlock (and
//! `no_new_privs`) and then execs CMD, which inherits the restrictions for good.
//!
//! The helper, in order:
//! 1. enters new user, mount, PID and (unless the network is allowed) network namespaces;
//! 2. in its private mount namespace, bind-mounts protected paths (a workspace's `.git`)
//!    read-only and mounts empty filesystems over hidden paths (`~/.ssh` and the like);
//! 3. forks: the child is PID 1 of the new PID namespace, so when the command's main
//!    process ends the kernel kills everything it left behind, daemons included;
//! 4. the child sets rlimits, restricts itself with Landlock and `no_new_privs`, and execs
//!    the command; the helper waits and passes the exit status on.
//!
//! What each mode allows:
//! * `read-only`: read everything not hidden; write only `/dev/null`.
//! * `workspace-write`: additionally write beneath the writable roots (the workspace, the
//!   configured extra roots, the temp dir), except protected paths.
//! * Network (both modes, unless allowed): a fresh network namespace has no interfaces but
//!   a down loopback, so nothing (TCP, UDP, …) gets out; Landlock denies TCP too.
//!
//! When the kernel cannot provide one of these (namespaces, Landlock), the helper says
//! which and refuses to run the command: ouro never silently runs a command unsandboxed.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::SandboxMode;

/// The hidden subcommand of the ouro binary that runs [`helper_main`].
pub const HELPER_SUBCOMMAND: &str = "__sandbox-exec";

/// Exit status of the helper when it could not confine or start the command.
pub const HELPER_FAILURE: i32 = 126;

/// Resource limits of a confined command (`setrlimit`); `None` leaves a limit as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Address space, in bytes.
    pub memory_bytes: Option<u64>,
    /// Largest file the command may write, in bytes.
    pub file_size_bytes: Option<u64>,
    /// Processes the command may have at once.
    pub processes: Option<u64>,
    /// CPU time, in seconds.
    pub cpu_seconds: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        Limits {
            memory_bytes: Some(16 * GIB),
            file_size_bytes: Some(8 * GIB),
            processes: Some(1024),
            cpu_seconds: None,
        }
    }
}

/// What a confined command may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    pub mode: SandboxMode,
    /// Writable in `workspace-write` mode.
    pub writable_roots: Vec<PathBuf>,
    pub network_access: bool,
    /// Paths beneath the writable roots that stay read-only.
    pub read_only_paths: Vec<PathBuf>,
    /// Paths nothing inside can read: empty mounts are laid over them.
    pub hidden_paths: Vec<PathBuf>,
    pub limits: Limits,
}

/// The credentials a command has no business reading, beneath a home directory.
pub fn sensitive_paths(home: &Path) -> Vec<PathBuf> {
    [
        ".ssh",
        ".gnupg",
        ".aws",
        ".azure",
        ".config/gcloud",
        ".kube",
        ".docker/config.json",
        ".netrc",
        ".git-credentials",
        ".pypirc",
        ".cargo/credentials.toml",
        ".npmrc",
    ]
    .iter()
    .map(|p| home.join(p))
    .collect()
}

impl SandboxPolicy {
    /// A policy with the default protections: each writable root's `.git` read-only (unless
    /// `git_writable`), `hidden` made unreadable, default limits.
    pub fn new(
        mode: SandboxMode,
        writable_roots: Vec<PathBuf>,
        network_access: bool,
        git_writable: bool,
        hidden_paths: Vec<PathBuf>,
    ) -> Self {
        let read_only_paths = if git_writable {
            Vec::new()
        } else {
            writable_roots
                .iter()
                .map(|root| root.join(".git"))
                .filter(|git| git.exists())
                .collect()
        };
        // Hiding a directory that holds a writable root would hide the workspace itself.
        let hidden_paths = hidden_paths
            .into_iter()
            .filter(|hidden| !writable_roots.iter().any(|root| root.starts_with(hidden)))
            .collect();
        SandboxPolicy {
            mode,
            writable_roots,
            network_access,
            read_only_paths,
            hidden_paths,
            limits: Limits::default(),
        }
    }

    /// The argv that runs `argv` under this policy through `helper` (the ouro binary), or
    /// `argv` itself when the mode confines nothing.
    pub fn wrap(&self, helper: &Path, argv: &[String]) -> Vec<String> {
        if self.mode == SandboxMode::DangerFullAccess {
            return argv.to_vec();
        }
        let mut wrapped = vec![
            helper.display().to_string(),
            HELPER_SUBCOMMAND.to_string(),
            "--mode".into(),
            self.mode.as_str().into(),
        ];
        if self.mode == SandboxMode::WorkspaceWrite {
            for root in &self.writable_roots {
                wrapped.push("--writable".into());
                wrapped.push(root.display().to_string());
            }
        }
        if self.network_access {
            wrapped.push("--network".into());
        }
        for path in &self.read_only_paths {
            wrapped.push("--read-only".into());
            wrapped.push(path.display().to_string());
        }
        for path in &self.hidden_paths {
            wrapped.push("--hide".into());
            wrapped.push(path.display().to_string());
        }
        let limits = [
            ("--limit-memory", self.limits.memory_bytes),
            ("--limit-file-size", self.limits.file_size_bytes),
            ("--limit-processes", self.limits.processes),
            ("--limit-cpu", self.limits.cpu_seconds),
        ];
        for (flag, value) in limits {
            if let Some(value) = value {
                wrapped.push(flag.into());
                wrapped.push(value.to_string());
            }
        }
        wrapped.push("--".into());
        wrapped.extend(argv.iter().cloned());
        wrapped
    }

    /// Reads back what [`SandboxPolicy::wrap`] wrote (after the subcommand name).
    fn parse(args: &[String]) -> Result<(SandboxPolicy, &[String]), String> {
        let mut policy = SandboxPolicy {
            mode: SandboxMode::ReadOnly,
            writable_roots: Vec::new(),
            network_access: false,
            read_only_paths: Vec::new(),
            hidden_paths: Vec::new(),
            limits: Limits {
                memory_bytes: None,
                file_size_bytes: None,
                processes: None,
                cpu_seconds: None,
            },
        };
        let number = |flag: &str, value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} needs a number, not {value:?}"))
        };
        let mut rest = args;
        loop {
            match rest {
                [flag, path, tail @ ..] if flag == "--read-only" => {
                    policy.read_only_paths.push(PathBuf::from(path));
                    rest = tail;
                }
                [flag, path, tail @ ..] if flag == "--hide" => {
                    policy.hidden_paths.push(PathBuf::from(path));
                    rest = tail;
                }
                [flag, value, tail @ ..] if flag == "--limit-memory" => {
                    policy.limits.memory_bytes = Some(number(flag, value)?);
                    rest = tail;
                }
                [flag, value, tail @ ..] if flag == "--limit-file-size" => {
                    policy.limits.file_size_bytes = Some(number(flag, value)?);
                    rest = tail;
                }
                [flag, value, tail @ ..] if flag == "--limit-processes" => {
                    policy.limits.processes = Some(number(flag, value)?);
                    rest = tail;
                }
                [flag, value, tail @ ..] if flag == "--limit-cpu" => {
                    policy.limits.cpu_seconds = Some(number(flag, value)?);
                    rest = tail;
                }
                [flag, mode, tail @ ..] if flag == "--mode" => {
                    policy.mode = mode.parse()?;
                    rest = tail;
                }
                [flag, root, tail @ ..] if flag == "--writable" => {
                    policy.writable_roots.push(PathBuf::from(root));
                    rest = tail;
                }
                [flag, tail @ ..] if flag == "--network" => {
                    policy.network_access = true;
                    rest = tail;
                }
                [separator, command @ ..] if separator == "--" => {
                    if command.is_empty() {
                        return Err("no command after --".into());
                    }
                    return Ok((policy, command));
                }
                _ => return Err(format!("unexpected arguments: {rest:?}")),
            }
        }
    }

    /// Restricts the calling process's filesystem and network access with Landlock.
    fn landlock_self(&self) -> Result<(), String> {
        let abi = ABI::V6;
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .map_err(|e| e.to_string())?;
        if !self.network_access {
            ruleset = ruleset
                .handle_access(AccessNet::from_all(abi))
                .map_err(|e| e.to_string())?;
        }
        // Signals and abstract sockets stay inside the sandbox, where the kernel can do it.
        let ruleset = ruleset
            .set_compatibility(CompatLevel::BestEffort)
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(|e| e.to_string())?;
        let mut created = ruleset
            .create()
            .map_err(|e| e.to_string())?
            .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
            .map_err(|e| e.to_string())?
            .add_rules(path_beneath_rules(
                ["/dev/null"],
                AccessFs::ReadFile | AccessFs::WriteFile,
            ))
            .map_err(|e| e.to_string())?;
        if self.mode == SandboxMode::WorkspaceWrite {
            let roots: Vec<&PathBuf> = self.writable_roots.iter().filter(|r| r.exists()).collect();
            created = created
                .add_rules(path_beneath_rules(roots, AccessFs::from_all(abi)))
                .map_err(|e| e.to_string())?;
        }
        let status = created.restrict_self().map_err(|e| e.to_string())?;
        if status.ruleset == RulesetStatus::NotEnforced {
            return Err(
                "this kernel does not enforce Landlock (it is not built in or not \
                        enabled at boot), so the sandbox cannot be applied"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The helper's entry point: `args` are what follows the subcommand name. Confines the
/// process, then runs the command. Returns the exit status to use: the command's, or
/// [`HELPER_FAILURE`] when the sandbox could not be set up.
pub fn helper_main(args: &[String]) -> i32 {
    let (policy, command) = match SandboxPolicy::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("ouro sandbox: {e}");
            return HELPER_FAILURE;
        }
    };
    let refuse = |e: String| {
        eprintln!(
            "ouro sandbox: {e}; refusing to run `{}` unsandboxed. Run with -s danger-full-access \
             to allow commands without a sandbox.",
            command[0]
        );
        HELPER_FAILURE
    };
    // Root is exempt from RLIMIT_NPROC, so a pids cgroup, where one is writable, is what
    // stops a fork bomb.
    let cgroup = policy.limits.processes.and_then(PidsCgroup::enter);
    if let Err(e) = policy.enter_namespaces() {
        return refuse(e);
    }
    // SAFETY: the helper is single-threaded here (nothing has spawned a thread), so the
    // child may run arbitrary code after fork.
    match unsafe { libc::fork() } {
        -1 => refuse(format!("fork failed: {}", std::io::Error::last_os_error())),
        0 => {
            // PID 1 of the new namespace: everything the command starts dies with it.
            if let Err(e) = policy.confine_child() {
                std::process::exit(refuse(e));
            }
            let err = std::process::Command::new(&command[0])
                .args(&command[1..])
                .exec();
            eprintln!("ouro sandbox: cannot run `{}`: {err}", command[0]);
            std::process::exit(if err.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                HELPER_FAILURE
            })
        }
        child => {
            let status = wait_for(child);
            if let Some(cgroup) = cgroup {
                cgroup.leave();
            }
            status
        }
    }
}

/// Removes the cgroups of helpers that were killed before they could clean up. The kernel
/// refuses to remove one that still holds a process, so a live sandbox is never touched.
fn sweep_leftovers(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("ouro-sandbox-")
        {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// A cgroup of the `pids` controller holding the helper and everything it starts.
struct PidsCgroup {
    dir: PathBuf,
    parent: PathBuf,
}

impl PidsCgroup {
    /// Moves this process into a new pids cgroup limited to `max` processes, under its
    /// current one (cgroup v1's pids hierarchy, or v2). `None` where that is not possible.
    fn enter(max: u64) -> Option<PidsCgroup> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let pid = std::process::id();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let base = match controllers {
                "pids" => Path::new("/sys/fs/cgroup/pids"),
                "" => Path::new("/sys/fs/cgroup"),
                _ => continue,
            };
            let parent = base.join(path.trim_start_matches('/'));
            sweep_leftovers(&parent);
            let dir = parent.join(format!("ouro-sandbox-{pid}"));
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let joined = std::fs::write(dir.join("pids.max"), max.to_string())
                .and_then(|()| std::fs::write(dir.join("cgroup.procs"), pid.to_string()));
            if joined.is_ok() {
                return Some(PidsCgroup { dir, parent });
            }
            let _ = std::fs::remove_dir(&dir);
        }
        None
    }

    /// Moves back out and removes the cgroup once its last process is gone.
    fn leave(self) {
        let _ = std::fs::write(
            self.parent.join("cgroup.procs"),
            std::process::id().to_string(),
        );
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl SandboxPolicy {
    /// Step 1 and 2: namespaces and mounts, in the helper itself.
    fn enter_namespaces(&self) -> Result<(), String> {
        // If ouro dies, so does the helper, and with it the whole PID namespace.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // SAFETY: plain syscalls with no pointers.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID;
        if !self.network_access {
            flags |= libc::CLONE_NEWNET;
        }
        // SAFETY: unshare takes flags only.
        if unsafe { libc::unshare(flags) } != 0 {
            return Err(format!(
                "the kernel refused new user/mount/PID/network namespaces ({}); unprivileged user \
                 namespaces may be disabled (see /proc/sys/user/max_user_namespaces)",
                std::io::Error::last_os_error()
            ));
        }
        // Keep our own identity inside the user namespace.
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
        // Nothing we mount may leak back to the host.
        mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        )?;
        for path in self.read_only_paths.iter().filter(|p| p.exists()) {
            mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None)?;
            // A remount must keep the flags the kernel locked on the original mount.
            let locked = mount_flags(path)?;
            mount(
                None,
                path,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked,
                None,
            )?;
        }
        for path in &self.hidden_paths {
            if path.is_dir() {
                let options = "size=4k,mode=000";
                mount(
                    Some(Path::new("tmpfs")),
                    path,
                    Some("tmpfs"),
                    0,
                    Some(options),
                )?;
            } else if path.exists() {
                mount(
                    Some(Path::new("/dev/null")),
                    path,
                    None,
                    libc::MS_BIND,
                    None,
                )?;
            }
        }
        Ok(())
    }

    /// Step 4, in the forked child: /proc of the new PID namespace, limits, Landlock.
    fn confine_child(&self) -> Result<(), String> {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // Best effort: `ps` and friends then see only the sandbox's processes.
        let _ = mount(
            Some(Path::new("proc")),
            Path::new("/proc"),
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        );
        let limits = [
            (libc::RLIMIT_AS, self.limits.memory_bytes, "memory"),
            (libc::RLIMIT_FSIZE, self.limits.file_size_bytes, "file size"),
            (libc::RLIMIT_NPROC, self.limits.processes, "processes"),
            (libc::RLIMIT_CPU, self.limits.cpu_seconds, "CPU time"),
        ];
        for (resource, value, what) in limits {
            if let Some(value) = value {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                // SAFETY: `limit` is a valid rlimit for the duration of the call.
                if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                    return Err(format!(
                        "cannot set the {what} limit: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
        }
        self.landlock_self()
    }
}

fn write_proc(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
}

fn cstring(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("path {} contains a NUL byte", path.display()))
}

fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), String> {
    let source = source.map(cstring).transpose()?;
    let target_c = cstring(target)?;
    let fstype = fstype
        .map(|t| CString::new(t).map_err(|e| e.to_string()))
        .transpose()?;
    let data = data
        .map(|d| CString::new(d).map_err(|e| e.to_string()))
        .transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is either null or a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target_c.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot mount over {}: {}",
            target.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The mount flags of the filesystem holding `path` that a bind remount must keep.
fn mount_flags(path: &Path) -> Result<libc::c_ulong, String> {
    let path_c = cstring(path)?;
    // SAFETY: statvfs fills the zeroed struct; the path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path_c.as_ptr(), &mut stat) } != 0 {
        return Err(format!(
            "cannot stat {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    let pairs = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st, _)| stat.f_flag & st != 0)
        .fold(0, |acc, (_, ms)| acc | ms))
}

/// Waits for the command's PID 1 and turns how it ended into an exit status.
fn wait_for(child: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(child, &mut status, 0) };
        if rc == child {
            break;
        }
        if rc == -1 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return HELPER_FAILURE;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        HELPER_FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_parse_round_trip() {
        let policy = SandboxPolicy {
            mode: SandboxMode::WorkspaceWrite,
            writable_roots: vec![PathBuf::from("/w"), PathBuf::from("/tmp")],
            network_access: true,
            read_only_paths: vec![PathBuf::from("/w/.git")],
            hidden_paths: vec![PathBuf::from("/root/.ssh")],
            limits: Limits {
                cpu_seconds: Some(60),
                ..Limits::default()
            },
        };
        let argv = vec!["ls".to_string(), "--".to_string(), "-la".to_string()];
        let wrapped = policy.wrap(Path::new("/bin/ouro"), &argv);
        assert_eq!(wrapped[0], "/bin/ouro");
        assert_eq!(wrapped[1], HELPER_SUBCOMMAND);
        let (parsed, command) = SandboxPolicy::parse(&wrapped[2..]).unwrap();
        assert_eq!(parsed, policy);
        assert_eq!(command, argv.as_slice());
    }

    #[test]
    fn full_access_is_not_wrapped() {
        let policy =
            SandboxPolicy::new(SandboxMode::DangerFullAccess, vec![], false, false, vec![]);
        let argv = vec!["true".to_string()];
        assert_eq!(policy.wrap(Path::new("/bin/ouro"), &argv), argv);
    }

    #[test]
    fn malformed_helper_arguments_are_rejected() {
        for args in [&["--mode", "nope", "--", "x"][..], &["--", ""][..1], &["x"]] {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            assert!(SandboxPolicy::parse(&args).is_err(), "{args:?}");
        }
    }
}
