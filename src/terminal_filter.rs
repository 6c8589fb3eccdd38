//! An agent's raw output replayed to an operator's terminal (`harnex logs`): drawing passes
//! (text, colours, cursor movement, erasing, titles, hyperlinks); what would make the terminal act
//! for the agent is dropped: clipboard writes (OSC 52), colour and palette changes or queries and
//! every other OSC, DCS/APC/PM/SOS strings, requests that make the terminal answer on the
//! operator's input (device status and attributes, window reports, mode and version queries,
//! ENQ), and switches that would leave it sending mouse, focus or other keyboard encodings to the
//! operator's shell afterwards.
//!
//! A streaming state machine: a sequence split across two reads is judged whole.

/// Longest CSI or kept OSC we hold; anything longer is dropped (real ones are short).
const MAX_HELD: usize = 4096;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const ENQ: u8 = 0x05;

/// OSC numbers that only draw: titles (0, 1, 2), the working directory (7), hyperlinks (8),
/// shell prompt marks (133).
const KEPT_OSC: [&str; 6] = ["0", "1", "2", "7", "8", "133"];

/// Private modes that make the terminal report mouse, focus or paste events on its input.
const REPORTING_MODES: [&str; 11] = [
    "9", "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1015", "1016", "2004",
];

#[derive(Debug, Default)]
enum State {
    #[default]
    Ground,
    /// Saw ESC.
    Escape,
    /// ESC followed by intermediates (`ESC ( B`): one more byte ends it.
    EscapeIntermediate(Vec<u8>),
    Csi(Vec<u8>),
    /// OSC (kept when `keep` and short enough), or DCS/SOS/PM/APC (never kept).
    Str {
        held: Vec<u8>,
        keep: bool,
        after_esc: bool,
    },
    /// Saw 0xC2, the lead byte of a UTF-8 encoded C1 control (U+0080–U+009F).
    Utf8C1Lead,
}

/// Filters one stream of terminal output.
#[derive(Debug, Default)]
pub struct SafeReplay {
    state: State,
}

impl SafeReplay {
    pub fn new() -> SafeReplay {
        SafeReplay::default()
    }

    /// The safe part of `bytes`; an unfinished sequence at the end waits for the next call.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            self.step(b, &mut out);
        }
        out
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        self.state = match std::mem::take(&mut self.state) {
            State::Ground => match b {
                ESC => State::Escape,
                ENQ => State::Ground,
                0xC2 => State::Utf8C1Lead,
                _ => {
                    out.push(b);
                    State::Ground
                }
            },
            State::Utf8C1Lead => match b {
                0x80..=0x9F => State::Ground,
                _ => {
                    out.push(0xC2);
                    return self.step(b, out);
                }
            },
            State::Escape => match b {
                b'[' => State::Csi(Vec::new()),
                b']' => State::Str {
                    held: Vec::new(),
                    keep: true,
                    after_esc: false,
                },
                b'P' | b'X' | b'^' | b'_' => State::Str {
                    held: Vec::new(),
                    keep: false,
                    after_esc: false,
                },
                // DECID: the terminal answers with its attributes.
                b'Z' => State::Ground,
                0x20..=0x2F => State::EscapeIntermediate(vec![b]),
                ESC => State::Escape,
                _ => {
                    out.extend_from_slice(&[ESC, b]);
                    State::Ground
                }
            },
            State::EscapeIntermediate(mut held) => {
                held.push(b);
                if (0x20..=0x2F).contains(&b) && held.len() < 4 {
                    State::EscapeIntermediate(held)
                } else {
                    out.push(ESC);
                    out.extend_from_slice(&held);
                    State::Ground
                }
            }
            State::Csi(mut held) => match b {
                0x40..=0x7E => {
                    if csi_is_safe(&held, b) {
                        out.extend_from_slice(b"\x1b[");
                        out.extend_from_slice(&held);
                        out.push(b);
                    }
                    State::Ground
                }
                0x20..=0x3F if held.len() < MAX_HELD => {
                    held.push(b);
                    State::Csi(held)
                }
                // Malformed or overlong: drop what we held and read on as text.
                _ => State::Ground,
            },
            State::Str {
                mut held,
                keep,
                after_esc,
            } => {
                let ended = b == BEL || (after_esc && b == b'\\');
                if ended {
                    if keep && osc_is_safe(&held) {
                        out.extend_from_slice(b"\x1b]");
                        out.extend_from_slice(&held);
                        out.extend_from_slice(b"\x1b\\");
                    }
                    return;
                }
                if after_esc {
                    // ESC inside a string ends it; what follows starts anew.
                    self.state = State::Escape;
                    return self.step(b, out);
                }
                if b == ESC {
                    State::Str {
                        held,
                        keep,
                        after_esc: true,
                    }
                } else {
                    let keep = keep && held.len() < MAX_HELD;
                    if keep {
                        held.push(b);
                    } else {
                        held.clear();
                    }
                    State::Str {
                        held,
                        keep,
                        after_esc: false,
                    }
                }
            }
        };
    }
}

/// Whether a CSI sequence (`params` = parameter and intermediate bytes) only draws.
fn csi_is_safe(params: &[u8], final_byte: u8) -> bool {
    let text = String::from_utf8_lossy(params);
    let private = text.starts_with(['?', '>', '<', '=']);
    let intermediates = text.contains(['$', '"', '\'', '!', ' ', '#', '*', '+']);
    match final_byte {
        // Device status, attributes, window manipulation and reports, terminal parameters,
        // printer and self-test: the terminal answers, or acts outside the screen.
        b'n' | b'c' | b't' | b'x' | b'i' | b'y' => false,
        // `CSI > q` asks for the terminal's version; `CSI Ps SP q` sets the cursor style.
        b'q' => !private,
        // `CSI Ps $ p` asks for a mode's state.
        b'p' => !intermediates,
        // Kitty keyboard protocol (`CSI ? u`, `CSI > 1 u`, …); plain `CSI u` restores the cursor.
        b'u' => !private && !intermediates,
        // `CSI > … m` changes how keys are encoded; `CSI ? … S` queries graphics.
        b'm' | b'S' => !private,
        b'h' | b'l' => {
            !(text.starts_with('?')
                && text[1..]
                    .split(';')
                    .any(|mode| REPORTING_MODES.contains(&mode)))
        }
        _ => true,
    }
}

/// Whether an OSC string (without `ESC ]` and its terminator) only draws.
fn osc_is_safe(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let number = text.split(';').next().unwrap_or("");
    KEPT_OSC.contains(&number) && !text.ends_with(";?")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(bytes: &[u8]) -> Vec<u8> {
        SafeReplay::new().feed(bytes)
    }

    #[test]
    fn drawing_passes_unchanged() {
        let drawing: &[u8] = b"plain \x1b[1;32mgreen\x1b[0m \x1b[2J\x1b[H\x1b[?25l\x1b[?1049h\x1b]0;title\x1b\\\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1b7\x1b8\x1b(B\x1b[2 q\r\n\xe2\x9c\x93 \xc3\xa9";
        assert_eq!(filter(drawing), drawing);
    }

    #[test]
    fn clipboard_queries_and_strings_are_dropped() {
        let cases: [&[u8]; 14] = [
            b"\x1b]52;c;dG91Y2ggcHduZWQ=\x07",
            b"\x1b]52;c;dG91Y2g=\x1b\\",
            b"\x1b]11;?\x1b\\",
            b"\x1b]4;1;?\x07",
            b"\x1b]1337;File=x\x07",
            b"\x1bP$qm\x1b\\",
            b"\x1b_Gi=1;AAAA\x1b\\",
            b"\x1b[6n",
            b"\x1b[c",
            b"\x1b[>c",
            b"\x1b[21t",
            b"\x1b[?u",
            b"\x1b[?1000h",
            b"\x1bZ\x05",
        ];
        for case in cases {
            let out = filter(&[b"a", case, b"b"].concat());
            assert_eq!(out, b"ab", "{:?}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn utf8_c1_controls_are_dropped() {
        assert_eq!(filter("a\u{9b}6nb\u{9d}52".as_bytes()), b"a6nb52");
        assert_eq!(filter("é".as_bytes()), "é".as_bytes());
    }

    #[test]
    fn a_sequence_split_across_reads_is_judged_whole() {
        let mut replay = SafeReplay::new();
        let mut out = replay.feed(b"x\x1b]52;c;aGVs");
        out.extend(replay.feed(b"bG8=\x07y\x1b[3"));
        out.extend(replay.feed(b"1mz"));
        assert_eq!(out, b"xy\x1b[31mz");
    }

    #[test]
    fn an_endless_clipboard_write_is_never_held_whole() {
        let mut replay = SafeReplay::new();
        let mut body = b"\x1b]52;c;".to_vec();
        body.extend(std::iter::repeat_n(b'A', 10 * MAX_HELD));
        assert!(replay.feed(&body).is_empty());
        assert_eq!(replay.feed(b"\x07ok"), b"ok");
    }
}
