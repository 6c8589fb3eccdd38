//! `harnex hook-relay FILE` (internal): run by an agent's hook, it reads the JSON the agent hands
//! the hook on stdin (at most 1 MiB) and appends it to FILE as one line, in one write, so the
//! supervisor following FILE reads whole calls. It always exits 0 and prints nothing: a hook
//! that fails must not disturb the agent, and the agent's records say the same a moment later.

use std::io::{Read, Write};
use std::path::Path;

use crate::error::Result;

/// The most of a hook's input relayed (Claude's Stop input carries the last message).
const MAX_INPUT: u64 = 1024 * 1024;

pub fn run(file: &Path) -> Result<i32> {
    let mut input = Vec::new();
    if std::io::stdin()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut input)
        .is_err()
        || input.len() as u64 > MAX_INPUT
    {
        return Ok(0);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&input) else {
        return Ok(0);
    };
    let mut line = value.to_string();
    line.push('\n');
    if let Ok(mut out) = crate::private_fs::open_append(file) {
        let _ = out.write_all(line.as_bytes());
    }
    Ok(0)
}
