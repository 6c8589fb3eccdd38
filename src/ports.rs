//! The API port of a session: a deterministic hash of (repo root, id) in 43000–46999, probing
//! upwards (wrapping) past busy ports, or the user's `--port`.

use std::net::{IpAddr, TcpListener};
use std::path::Path;

use sha2::{Digest, Sha256};

pub const DEFAULT_BASE: u16 = 43000;
pub const DEFAULT_SPAN: u16 = 4000;

/// Base and span, overridable with `HARNEX_BASE_PORT` / `HARNEX_PORT_SPAN`.
pub fn port_range() -> (u16, u16) {
    let parse = |name: &str, default: u16| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u16>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(default)
    };
    (
        parse("HARNEX_BASE_PORT", DEFAULT_BASE),
        parse("HARNEX_PORT_SPAN", DEFAULT_SPAN),
    )
}

/// The first port the probe tries for this session.
pub fn seed_port(repo_root: &Path, id: &str, base: u16, span: u16) -> u16 {
    let digest = Sha256::digest(format!("{}\0{}", repo_root.display(), id).as_bytes());
    let mut seed: u64 = 0;
    for b in &digest[digest.len() - 8..] {
        seed = (seed << 8) | u64::from(*b);
    }
    base + (seed % u64::from(span)) as u16
}

/// Candidate ports in probe order.
pub fn candidates(repo_root: &Path, id: &str) -> impl Iterator<Item = u16> {
    let (base, span) = port_range();
    let first = seed_port(repo_root, id, base, span) - base;
    (0..span).map(move |i| base + (first + i) % span)
}

/// Bind a listener on the first free candidate port.
pub fn bind_first_free(
    host: IpAddr,
    ports: impl Iterator<Item = u16>,
) -> std::io::Result<TcpListener> {
    let mut last = None;
    for port in ports {
        match TcpListener::bind((host, port)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port to try")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_deterministic_and_in_range() {
        let p = seed_port(Path::new("/repo"), "w1", 43000, 4000);
        assert!((43000..47000).contains(&p));
        assert_eq!(p, seed_port(Path::new("/repo"), "w1", 43000, 4000));
        let others: Vec<u16> = (0..20)
            .map(|i| seed_port(Path::new("/repo"), &format!("w{i}"), 43000, 4000))
            .collect();
        assert!(others.iter().any(|q| *q != p), "ids spread over the range");
    }

    #[test]
    fn candidates_wrap_around_the_span() {
        let ports: Vec<u16> = candidates(Path::new("/r"), "x").collect();
        let (base, span) = port_range();
        assert_eq!(ports.len(), usize::from(span));
        assert!(ports.iter().all(|p| (base..base + span).contains(p)));
    }

    #[test]
    fn a_busy_port_is_skipped() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let host: IpAddr = "127.0.0.1".parse().unwrap();
        let got = bind_first_free(host, [port, 0].into_iter()).unwrap();
        assert_ne!(got.local_addr().unwrap().port(), port);
    }
}
