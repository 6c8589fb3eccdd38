//! Remote hosts for tests: OpenSSH servers on 127.0.0.1 (random free ports, throwaway host and
//! user keys, their own config and authorized_keys), each standing in for a machine with its own
//! harnex world (state dir, tmux socket dir, home). The local side reaches them with
//! `HARNEX_SSH='ssh -F <own config>'` and a hosts.toml naming each host's harnex (the built
//! binary) and environment, as a user would for a host whose harnex lives off PATH.
//!
//! Never touches ~/.ssh: the client config names every file, and the user's agent is not used.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{DEADLINE, World, free_port, harnex_bin, wait_until};

pub const SSHD: &str = "/usr/sbin/sshd";

/// One sshd: a host named `name` in the client config.
pub struct SshServer {
    pub name: String,
    pub port: u16,
    child: Child,
}

impl SshServer {
    /// Pids of the per-connection sshd processes (children of the listener).
    pub fn connection_pids(&self) -> Vec<u32> {
        children_of(self.child.id())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        for pid in self.connection_pids() {
            kill(pid);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The local side and its remote hosts.
pub struct SshWorld {
    /// Where the local harnex runs (its own state dir: no sessions of its own).
    pub local: World,
    /// Each host's harnex world, by host name.
    pub hosts: Vec<(String, World)>,
    servers: Vec<SshServer>,
    keys: PathBuf,
    pub ssh_config: PathBuf,
    pub hosts_file: PathBuf,
    /// XDG_RUNTIME_DIR of the local side (the ssh control sockets go below it).
    pub runtime: PathBuf,
}

impl SshWorld {
    /// Servers for `names`, plus in the client config: `down` (a port nobody listens on) and
    /// `stranger` (host b1 with a key it does not accept); in hosts.toml also `nowhere` (b1's
    /// server, with no harnex at the path given).
    pub fn new(names: &[&str]) -> SshWorld {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install Debian's openssh-server (`apt-get install -y openssh-server`, as .ci/run does)"
        );
        // sshd run as root wants its privilege separation directory.
        if nix::unistd::geteuid().is_root() {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let local = World::new();
        let keys = local.root.path().join("keys");
        std::fs::create_dir_all(&keys).expect("keys dir");
        keygen(&keys.join("user"));
        keygen(&keys.join("stranger"));
        keygen(&keys.join("host"));
        std::fs::copy(keys.join("user.pub"), keys.join("authorized_keys")).expect("authorized");
        let runtime = local.root.path().join("run");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        let mut world = SshWorld {
            ssh_config: local.root.path().join("ssh_config"),
            hosts_file: local.root.path().join("hosts.toml"),
            local,
            hosts: Vec::new(),
            servers: Vec::new(),
            keys,
            runtime,
        };
        for name in names {
            let server = world.start_server(name);
            world.servers.push(server);
            world.hosts.push((name.to_string(), World::new()));
        }
        world.write_client_config();
        world.write_hosts_file(&[]);
        world
    }

    fn start_server(&self, name: &str) -> SshServer {
        let port = free_port();
        let dir = self.keys.join(format!("sshd-{name}"));
        std::fs::create_dir_all(&dir).expect("sshd dir");
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\n\
                 PidFile none\nUsePAM no\nStrictModes no\nPermitRootLogin yes\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPrintMotd no\n\
                 PrintLastLog no\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n",
                host = self.keys.join("host").display(),
                auth = self.keys.join("authorized_keys").display(),
            ),
        )
        .expect("sshd config");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let server = SshServer {
            name: name.to_string(),
            port,
            child,
        };
        wait_until(&format!("sshd for {name} on port {port}"), DEADLINE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        server
    }

    fn write_client_config(&self) {
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .expect("user name");
        let host_key = std::fs::read_to_string(self.keys.join("host.pub")).expect("host key");
        let host_key = host_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let known = self.keys.join("known_hosts");
        let mut known_text = String::new();
        let mut config = String::new();
        let mut entry = |alias: &str, port: u16, key: &str| {
            config.push_str(&format!(
                "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
                 IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile {known}\n  \
                 GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n\n",
                key = self.keys.join(key).display(),
                known = known.display(),
            ));
        };
        for server in &self.servers {
            entry(&server.name, server.port, "user");
            known_text.push_str(&format!("[127.0.0.1]:{} {host_key}\n", server.port));
        }
        entry("down", free_port(), "user");
        if let Some(first) = self.servers.first() {
            entry("stranger", first.port, "stranger");
        }
        std::fs::write(&known, known_text).expect("known_hosts");
        std::fs::write(&self.ssh_config, config).expect("ssh config");
    }

    /// hosts.toml: each server's host with its world's environment and the built harnex, `down`,
    /// `stranger`, `nowhere` (harnex missing there), plus `extra` text.
    pub fn write_hosts_file(&self, extra: &[&str]) {
        let mut text = String::new();
        for (name, world) in &self.hosts {
            text.push_str(&host_table(name, name, &harnex_bin(), world));
        }
        if let Some((first, world)) = self.hosts.first() {
            text.push_str(&host_table(
                "nowhere",
                first,
                Path::new("/nonexistent/bin/harnex"),
                world,
            ));
            text.push_str(&host_table("stranger", "stranger", &harnex_bin(), world));
            text.push_str(&host_table("down", "down", &harnex_bin(), world));
        }
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&self.hosts_file, text).expect("hosts.toml");
    }

    /// The world of host `name`.
    pub fn host(&self, name: &str) -> &World {
        &self
            .hosts
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no host {name}"))
            .1
    }

    pub fn server(&self, name: &str) -> &SshServer {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no server {name}"))
    }

    /// A local harnex command that reaches the hosts.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.local.cmd();
        cmd.env(
            "HARNEX_SSH",
            format!("ssh -F {}", self.ssh_config.display()),
        )
        .env("HARNEX_HOSTS_FILE", &self.hosts_file)
        .env("XDG_RUNTIME_DIR", &self.runtime)
        .env_remove("SSH_AUTH_SOCK");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> super::Run {
        super::Run::from(self.cmd().args(args).output().expect("run harnex"))
    }

    pub fn spawn(&self, args: &[&str]) -> super::Background {
        super::Background::spawn(self.cmd().args(args))
    }

    /// `run --remote HOST <fake agent> --id ID --cd <the host's repo>`: its JSON line.
    pub fn start_fake(&self, host: &str, id: &str, flags: &[&str]) -> serde_json::Value {
        let agent = super::fake_agent_bin();
        let repo = self.host(host).repo.to_str().expect("utf-8").to_string();
        let mut args = vec![
            "run",
            "--remote",
            host,
            agent.to_str().expect("utf-8"),
            "--id",
            id,
            "--cd",
            &repo,
            "--",
        ];
        args.extend_from_slice(flags);
        let run = self.run(&args);
        assert_eq!(run.code, 0, "remote run failed: {run:?}");
        run.json()
    }

    /// End the shared connections (their masters outlive each command by design).
    fn close_connections(&self) {
        let dir = self.runtime.join("harnex-ssh");
        for socket in std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            let _ = Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", socket.display()))
                .args(["-O", "exit", "unused"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for SshWorld {
    fn drop(&mut self) {
        self.close_connections();
        // The servers go with their connections; each host's World then ends its sessions.
        self.servers.clear();
    }
}

fn host_table(name: &str, alias: &str, harnex: &Path, world: &World) -> String {
    format!(
        "[hosts.{name}]\nssh = \"{alias}\"\nharnex = \"{}\"\nenv = {{ HARNEX_STATE_DIR = \"{}\", TMUX_TMPDIR = \"{}\", HOME = \"{}\" }}\n\n",
        harnex.display(),
        world.state.display(),
        world.tmux_tmpdir.display(),
        world.home.display(),
    )
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "harnex-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
}

/// Pids whose parent is `parent` (from /proc).
pub fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The command line of `pid`, as words.
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Processes running the built harnex with these leading arguments and `HARNEX_STATE_DIR=state`.
pub fn harnex_processes(state: &Path, args: &[&str]) -> Vec<u32> {
    let bin = harnex_bin();
    let want = format!("HARNEX_STATE_DIR={}", state.display());
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let words = cmdline(*pid);
            words.first().is_some_and(|w| Path::new(w) == bin)
                && words.len() > args.len()
                && words[1..=args.len()].iter().zip(args).all(|(a, b)| a == b)
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|c| *c == 0).any(|v| v == want.as_bytes()))
        })
        .filter(|pid| super::process_alive(u64::from(*pid)))
        .collect()
}

pub fn kill(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Wait until `pid` has a child process named `name`; its pid.
pub fn wait_child_named(pid: u32, name: &str) -> u32 {
    wait_until(&format!("a {name} child of {pid}"), DEADLINE, || {
        children_of(pid).into_iter().find(|c| {
            cmdline(*c)
                .first()
                .is_some_and(|w| w == name || w.ends_with(&format!("/{name}")))
        })
    })
}

pub const SLOW: Duration = Duration::from_secs(30);
