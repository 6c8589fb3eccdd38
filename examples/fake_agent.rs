//! A scripted fake terminal AI agent for harnex tests.
//!
//! It behaves like a small TUI coding agent: raw-mode terminal, its own
//! echo of typed input, a prompt, a spinner line while "working", window
//! titles, an optional startup trust dialog, bracketed paste and a cursor
//! position query. Only std and `libc` are used so that this single file can
//! live in `examples/`.
//!
//! Run with `--help` for the flags and the commands understood at the prompt.

#[path = "support/fake_agent_rollout.rs"]
mod rollout;

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: fake-agent [FLAGS]

flags:
  --boot-ms N               print \"booting…\" and sleep N ms before the first prompt
  --exit-at-start CODE      print a fatal message on stderr and exit CODE at once
  --query-cursor            send ESC[6n at startup, wait up to 2 s for the reply
  --bracketed-paste         enable bracketed paste (ESC[?2004h)
  --paste-draw-ms N         take N ms to take a paste in before drawing it; an Enter read in
                            that time is part of the paste (a space), not a submit
  --title TEXT              window title (OSC 0) while idle
  --banner TEXT             print TEXT as the first line (the Ruby harnex 0.5.0's codex adapter
                            counts a prompt only once Codex's banner, \"OpenAI Codex\", was seen)
  --prompt STR              prompt string (default \"> \")
  --dialog                  start with a blocking \"Trust this folder?\" dialog
  --codex-summary           print a Codex-style token usage/resume summary on /exit
  --turn-ms N               length of a task turn in ms (default 1500)
  --echo-prompt-while-busy  keep drawing the prompt line below the spinner while busy
  --session-id ID, --settings FILE
                            ignored: harnex's claude adapter adds them
  --codex-rollout           write a Codex-style rollout under $CODEX_HOME/sessions (from the
                            first turn on; \"[fail=429]\" in a task makes its turn fail there)
  --dangerously-bypass-approvals-and-sandbox, --no-alt-screen
                            ignored: harnex's codex adapter adds them, so the fake agent
                            can stand in for codex (run through a symlink named `codex`)
  -h, --help                show this help

commands at the prompt:
  /exit        print \"bye\" and exit 0
  exit N       print \"exiting N\" and exit N
  print N      write N bytes of 80-column ASCII lines, then \"printed N\"
  hang         busy until Esc or C-c
  stall        like hang the first time, a normal task afterwards
  quiet N      show nothing for N ms, then the prompt again
  deaf         show the prompt and never read input again (its input buffer fills up)
  C-d          at an empty prompt: exit 0 (like a shell)
  (a leading \"[harnex session id=ID] \" is ignored, so --context can carry a command)
  anything     a task: busy for the turn length ([delay=N] in the line
               overrides it), then \"answer: <line>\"
";

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);
const ESC_TIMEOUT: Duration = Duration::from_millis(50);
const CURSOR_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_TITLE: &str = "fake-agent";
const CODEX_USAGE: &str =
    "Token usage: total=1,090 input=1,034 (+ 200 cached) output=56 (reasoning 7)";
const CODEX_RESUME: &str =
    "To continue this session, run codex resume 0199a213-81c0-7800-8aa1-bbab2a035a53";
const LINE_WIDTH: usize = 80;
const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Config {
    boot_ms: u64,
    exit_at_start: Option<i32>,
    query_cursor: bool,
    bracketed_paste: bool,
    paste_draw_ms: u64,
    title: Option<String>,
    banner: Option<String>,
    prompt: String,
    dialog: bool,
    codex_summary: bool,
    turn_ms: u64,
    echo_prompt_while_busy: bool,
    codex_rollout: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            boot_ms: 0,
            exit_at_start: None,
            query_cursor: false,
            bracketed_paste: false,
            paste_draw_ms: 0,
            title: None,
            banner: None,
            prompt: "> ".to_string(),
            dialog: false,
            codex_summary: false,
            turn_ms: 1500,
            echo_prompt_while_busy: false,
            codex_rollout: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Run(Config),
    Help,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("invalid value for {flag}: {value:?}"))
}

/// Parses the command line (without the program name). Accepts both
/// `--flag VALUE` and `--flag=VALUE`.
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Parsed, String> {
    let mut cfg = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--boot-ms"
                | "--exit-at-start"
                | "--title"
                | "--banner"
                | "--prompt"
                | "--turn-ms"
                | "--paste-draw-ms"
                | "--session-id"
                | "--settings"
        );
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| format!("missing value for {flag}"))?,
            }
        } else if inline.is_some() {
            return Err(format!("{flag} takes no value"));
        } else {
            String::new()
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--boot-ms" => cfg.boot_ms = number(&flag, &value)?,
            "--exit-at-start" => cfg.exit_at_start = Some(number(&flag, &value)?),
            "--query-cursor" => cfg.query_cursor = true,
            "--bracketed-paste" => cfg.bracketed_paste = true,
            "--paste-draw-ms" => cfg.paste_draw_ms = number(&flag, &value)?,
            "--title" => cfg.title = Some(value),
            "--banner" => cfg.banner = Some(value),
            "--prompt" => cfg.prompt = value,
            "--dialog" => cfg.dialog = true,
            "--codex-summary" => cfg.codex_summary = true,
            "--turn-ms" => cfg.turn_ms = number(&flag, &value)?,
            "--echo-prompt-while-busy" => cfg.echo_prompt_while_busy = true,
            "--codex-rollout" => cfg.codex_rollout = true,
            "--dangerously-bypass-approvals-and-sandbox" | "--no-alt-screen" => {}
            "--session-id" | "--settings" | "--no-daemon" => {}
            _ => return Err(format!("unknown flag: {arg}")),
        }
    }
    Ok(Parsed::Run(cfg))
}

// ---------------------------------------------------------------------------
// Commands typed at the prompt
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Empty,
    Quit,
    Exit(i32),
    Print(u64),
    Hang,
    Stall { ms: u64 },
    Quiet(u64),
    Task { ms: u64 },
    Deaf,
}

/// Finds the first `[delay=N]` marker in `line`.
fn parse_delay(line: &str) -> Option<u64> {
    let mut rest = line;
    while let Some(i) = rest.find("[delay=") {
        rest = &rest[i + "[delay=".len()..];
        if let Some(end) = rest.find(']')
            && let Ok(ms) = rest[..end].parse()
        {
            return Some(ms);
        }
    }
    None
}

fn parse_command(line: &str, turn_ms: u64) -> Command {
    let line = line.trim();
    // A `--context` message arrives as "[harnex session id=ID] <text>": the text is the command.
    let line = match line.strip_prefix("[harnex session id=") {
        Some(rest) => rest.split_once("] ").map_or(line, |(_, text)| text.trim()),
        None => line,
    };
    let arg = |name: &str| {
        line.strip_prefix(name)
            .filter(|r| r.starts_with(' '))
            .map(str::trim)
    };
    if line.is_empty() {
        return Command::Empty;
    }
    if line == "/exit" {
        return Command::Quit;
    }
    if line == "hang" {
        return Command::Hang;
    }
    if line == "stall" {
        return Command::Stall { ms: turn_ms };
    }
    if line == "deaf" {
        return Command::Deaf;
    }
    if let Some(Ok(n)) = arg("exit").map(str::parse) {
        return Command::Exit(n);
    }
    if let Some(Ok(n)) = arg("print").map(str::parse) {
        return Command::Print(n);
    }
    if let Some(Ok(n)) = arg("quiet").map(str::parse) {
        return Command::Quiet(n);
    }
    Command::Task {
        ms: parse_delay(line).unwrap_or(turn_ms),
    }
}

// ---------------------------------------------------------------------------
// Input decoding
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Char(char),
    Paste(String),
    Enter,
    Backspace,
    Esc,
    CtrlC,
    /// C-d: end of input at an empty prompt (like a shell).
    CtrlD,
    /// C-u: clear the input line.
    CtrlU,
    Up,
    Down,
    CursorReport(u32, u32),
    Eof,
}

#[derive(Debug)]
enum State {
    Ground,
    Esc(Instant),
    Csi(Vec<u8>),
    Ss3,
    Paste(Vec<u8>),
}

/// Turns raw terminal input bytes into keys. A lone ESC only becomes
/// [`Key::Esc`] once [`InputParser::flush_esc`] is called after
/// [`ESC_TIMEOUT`] without a following byte.
#[derive(Debug)]
struct InputParser {
    state: State,
    utf8: Vec<u8>,
    last_cr: bool,
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 0,
    }
}

/// Paste text goes into the input line: line breaks and tabs become spaces,
/// other control characters are dropped.
fn sanitize_paste(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .replace("\r\n", "\n")
        .chars()
        .filter_map(|c| match c {
            '\r' | '\n' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

impl InputParser {
    fn new() -> Self {
        InputParser {
            state: State::Ground,
            utf8: Vec::new(),
            last_cr: false,
        }
    }

    /// When a lone ESC becomes an Esc key if nothing follows it.
    fn esc_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Esc(at) => Some(at + ESC_TIMEOUT),
            _ => None,
        }
    }

    fn flush_esc(&mut self, out: &mut Vec<Key>) {
        if let State::Esc(_) = self.state {
            self.state = State::Ground;
            out.push(Key::Esc);
        }
    }

    fn feed(&mut self, bytes: &[u8], now: Instant, out: &mut Vec<Key>) {
        for &b in bytes {
            self.byte(b, now, out);
        }
    }

    fn byte(&mut self, b: u8, now: Instant, out: &mut Vec<Key>) {
        let state = std::mem::replace(&mut self.state, State::Ground);
        match state {
            State::Ground => self.ground(b, now, out),
            State::Esc(_) => match b {
                b'[' => self.state = State::Csi(Vec::new()),
                b'O' => self.state = State::Ss3,
                _ => {
                    out.push(Key::Esc);
                    self.ground(b, now, out);
                }
            },
            State::Csi(mut params) => match b {
                0x40..=0x7e => self.csi(&params, b, out),
                0x20..=0x3f if params.len() < 64 => {
                    params.push(b);
                    self.state = State::Csi(params);
                }
                _ => {}
            },
            State::Ss3 => match b {
                b'A' => out.push(Key::Up),
                b'B' => out.push(Key::Down),
                _ => {}
            },
            State::Paste(mut buf) => {
                buf.push(b);
                if buf.ends_with(PASTE_END) {
                    buf.truncate(buf.len() - PASTE_END.len());
                    out.push(Key::Paste(sanitize_paste(&buf)));
                } else {
                    self.state = State::Paste(buf);
                }
            }
        }
    }

    fn ground(&mut self, b: u8, now: Instant, out: &mut Vec<Key>) {
        let after_cr = std::mem::replace(&mut self.last_cr, b == b'\r');
        if b < 0x80 {
            self.utf8.clear();
        }
        match b {
            0x1b => self.state = State::Esc(now),
            0x03 => out.push(Key::CtrlC),
            0x04 => out.push(Key::CtrlD),
            0x15 => out.push(Key::CtrlU),
            b'\r' => out.push(Key::Enter),
            // "\r\n" from a line-oriented sender is one Enter, not two.
            b'\n' if !after_cr => out.push(Key::Enter),
            0x7f | 0x08 => out.push(Key::Backspace),
            0x20..=0x7e => out.push(Key::Char(b as char)),
            0x80.. => {
                if utf8_len(b) > 0 {
                    self.utf8 = vec![b];
                } else if (0x80..0xc0).contains(&b) && !self.utf8.is_empty() {
                    self.utf8.push(b);
                } else {
                    self.utf8.clear();
                    return;
                }
                if self.utf8.len() == utf8_len(self.utf8[0]) {
                    if let Ok(s) = std::str::from_utf8(&self.utf8) {
                        out.extend(s.chars().filter(|c| !c.is_control()).map(Key::Char));
                    }
                    self.utf8.clear();
                }
            }
            _ => {}
        }
    }

    fn csi(&mut self, params: &[u8], fin: u8, out: &mut Vec<Key>) {
        match fin {
            b'~' if params == &PASTE_START[2..PASTE_START.len() - 1] => {
                self.state = State::Paste(Vec::new());
            }
            b'A' => out.push(Key::Up),
            b'B' => out.push(Key::Down),
            b'R' => {
                let text = String::from_utf8_lossy(params);
                if let Some((r, c)) = text.split_once(';')
                    && let (Ok(r), Ok(c)) = (r.parse(), c.parse())
                {
                    out.push(Key::CursorReport(r, c));
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Terminal, signals and raw output
// ---------------------------------------------------------------------------

static SAVED_TERMIOS: OnceLock<libc::termios> = OnceLock::new();
static PASTE_ON: AtomicBool = AtomicBool::new(false);
const PASTE_OFF_SEQ: &[u8] = b"\x1b[?2004l";

/// Puts stdin in raw-ish mode: no echo, no canonical mode, no signals from
/// keys (C-c arrives as 0x03), no CR/NL translation on input. Output
/// processing stays on, so `\n` still returns the carriage.
fn enable_raw_mode() {
    // SAFETY: plain termios calls on fd 0 with a zero-initialised struct.
    unsafe {
        if libc::isatty(0) != 1 {
            return;
        }
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return;
        }
        let _ = SAVED_TERMIOS.set(t);
        t.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG | libc::IEXTEN);
        t.c_iflag &=
            !(libc::ICRNL | libc::INLCR | libc::IGNCR | libc::IXON | libc::BRKINT | libc::ISTRIP);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        libc::tcsetattr(0, libc::TCSANOW, &t);
    }
}

/// Async-signal-safe: undoes bracketed paste and raw mode.
fn restore_terminal() {
    // SAFETY: write(2) and tcsetattr(3) are async-signal-safe; the termios
    // value was stored before any handler could observe it.
    unsafe {
        if PASTE_ON.swap(false, Ordering::SeqCst) {
            libc::write(1, PASTE_OFF_SEQ.as_ptr().cast(), PASTE_OFF_SEQ.len());
        }
        if let Some(t) = SAVED_TERMIOS.get() {
            libc::tcsetattr(0, libc::TCSANOW, t);
        }
    }
}

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    restore_terminal();
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

fn install_signal_handlers() {
    // SAFETY: installs a handler that only calls async-signal-safe functions.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_fatal_signal as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
        // SIGWINCH keeps its default disposition (ignored).
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Writes everything to fd 1; false if the terminal is gone.
fn write_all(mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for its length.
        let n = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
            continue;
        }
        match last_errno() {
            libc::EINTR => {}
            libc::EAGAIN => {
                let mut pfd = libc::pollfd {
                    fd: 1,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, -1) };
            }
            _ => return false,
        }
    }
    true
}

fn osc_title(title: &str) -> String {
    format!("\x1b]0;{title}\x07")
}

/// `lines` lines of 80 printable ASCII characters plus `\n`, each line
/// shifted by one character so consecutive lines differ.
fn print_block(lines: usize) -> Vec<u8> {
    let mut block = Vec::with_capacity(lines * (LINE_WIDTH + 1));
    for i in 0..lines {
        block.extend((0..LINE_WIDTH).map(|j| b'!' + ((i + j) % 94) as u8));
        block.push(b'\n');
    }
    block
}

// ---------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------

struct App {
    cfg: Config,
    parser: InputParser,
    queue: VecDeque<Key>,
    /// The input line being typed at the prompt.
    input: String,
    /// Keys typed while busy, replayed (echoed, submitted) at the next prompt.
    deferred: Vec<Key>,
    /// The cursor sits at column 0 of an empty line.
    fresh: bool,
    stalled: bool,
    eof: bool,
    rollout: Option<rollout::Rollout>,
}

impl App {
    fn new(cfg: Config) -> Self {
        App {
            cfg,
            parser: InputParser::new(),
            queue: VecDeque::new(),
            input: String::new(),
            deferred: Vec::new(),
            fresh: true,
            stalled: false,
            eof: false,
            rollout: None,
        }
    }

    fn out(&mut self, s: &str) {
        if !write_all(s.as_bytes()) {
            self.finish(1);
        }
    }

    /// Prints `msg` on a line of its own.
    fn say(&mut self, msg: &str) {
        let s = if self.fresh {
            msg.to_string()
        } else {
            format!("\r\n{msg}")
        };
        self.fresh = false;
        self.out(&s);
    }

    fn finish(&mut self, code: i32) -> ! {
        if !self.fresh {
            write_all(b"\r\n");
        }
        restore_terminal();
        std::process::exit(code)
    }

    fn idle_title(&self) -> String {
        osc_title(self.cfg.title.as_deref().unwrap_or(DEFAULT_TITLE))
    }

    /// Read the input that has arrived, without waiting.
    fn read_ready(&mut self) {
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            let mut keys = Vec::new();
            self.parser
                .feed(&buf[..n as usize], Instant::now(), &mut keys);
            self.queue.extend(keys);
        }
    }

    /// Next key, or None once `deadline` passes. With no deadline it blocks
    /// (returning [`Key::Eof`] when stdin is closed). Never busy-spins.
    fn next_key(&mut self, deadline: Option<Instant>) -> Option<Key> {
        let mut keys = Vec::new();
        loop {
            if let Some(k) = self.queue.pop_front() {
                return Some(k);
            }
            let now = Instant::now();
            if self.parser.esc_deadline().is_some_and(|d| now >= d) {
                self.parser.flush_esc(&mut keys);
                self.queue.extend(keys.drain(..));
                continue;
            }
            if deadline.is_some_and(|d| now >= d) {
                return None;
            }
            if self.eof {
                match deadline {
                    None => return Some(Key::Eof),
                    Some(d) => {
                        std::thread::sleep(d - now);
                        continue;
                    }
                }
            }
            let wake = match (deadline, self.parser.esc_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timeout = match wake {
                None => -1,
                Some(w) => (w - now).as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
            };
            let mut pfd = libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout) };
            if r <= 0 {
                continue; // timeout or EINTR: re-check the deadlines
            }
            let mut buf = [0u8; 4096];
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                self.parser
                    .feed(&buf[..n as usize], Instant::now(), &mut keys);
                self.queue.extend(keys.drain(..));
            } else if n == 0 || !matches!(last_errno(), libc::EINTR | libc::EAGAIN) {
                self.eof = true;
                self.parser.flush_esc(&mut keys);
                self.queue.extend(keys.drain(..));
            }
        }
    }

    fn run(&mut self) -> ! {
        if self.cfg.bracketed_paste {
            PASTE_ON.store(true, Ordering::SeqCst);
            self.out("\x1b[?2004h");
        }
        if let Some(title) = &self.cfg.title {
            let t = osc_title(title);
            self.out(&t);
        }
        if self.cfg.query_cursor {
            self.query_cursor();
        }
        if let Some(banner) = self.cfg.banner.clone() {
            self.say(&banner);
        }
        if self.cfg.boot_ms > 0 {
            self.say("booting…");
            std::thread::sleep(Duration::from_millis(self.cfg.boot_ms));
        }
        if self.cfg.dialog {
            self.dialog();
        }
        self.draw_prompt();
        loop {
            match self.next_key(None) {
                Some(Key::Char(c)) => {
                    self.input.push(c);
                    self.out(c.encode_utf8(&mut [0; 4]));
                }
                Some(Key::Paste(mut s)) => {
                    if self.cfg.paste_draw_ms > 0 {
                        std::thread::sleep(Duration::from_millis(self.cfg.paste_draw_ms));
                        // An Enter that came while the paste was being taken in belongs to it.
                        self.read_ready();
                        while self.queue.front() == Some(&Key::Enter) {
                            self.queue.pop_front();
                            s.push(' ');
                        }
                    }
                    self.input.push_str(&s);
                    self.out(&s);
                }
                Some(Key::Backspace) if !self.input.is_empty() => {
                    self.input.pop();
                    self.redraw_input_line();
                }
                Some(Key::CtrlC | Key::CtrlU) if !self.input.is_empty() => {
                    self.input.clear();
                    self.redraw_input_line();
                }
                Some(Key::CtrlD) if self.input.is_empty() => self.finish(0),
                Some(Key::Enter) => {
                    self.submit();
                    self.draw_prompt();
                }
                Some(Key::Eof) => self.finish(0),
                _ => {}
            }
        }
    }

    fn draw_prompt(&mut self) {
        let line = format!("{}{}", self.cfg.prompt, self.input);
        self.say(&line);
    }

    fn redraw_input_line(&mut self) {
        let line = format!("\r\x1b[2K{}{}", self.cfg.prompt, self.input);
        self.out(&line);
    }

    fn query_cursor(&mut self) {
        self.out("\x1b[6n");
        let deadline = Instant::now() + CURSOR_TIMEOUT;
        let mut other = Vec::new();
        let msg = loop {
            match self.next_key(Some(deadline)) {
                None => break "cursor: no reply".to_string(),
                Some(Key::CursorReport(r, c)) => break format!("cursor: {r};{c}"),
                Some(k) => other.push(k),
            }
        };
        for k in other.into_iter().rev() {
            self.queue.push_front(k);
        }
        self.say(&msg);
    }

    fn dialog(&mut self) {
        const OPTIONS: [&str; 2] = ["1. Yes, continue", "2. No, exit"];
        let opt = |sel: usize, i: usize| {
            let mark = if sel == i { '›' } else { ' ' };
            format!("{mark} {}", OPTIONS[i])
        };
        let mut sel = 0;
        self.say("Trust this folder?");
        self.say("");
        self.say(&opt(sel, 0));
        self.say(&opt(sel, 1));
        self.say("");
        self.say("Press enter to continue");
        loop {
            let new_sel = match self.next_key(None) {
                Some(Key::Char('1') | Key::Up) => 0,
                Some(Key::Char('2') | Key::Down) => 1,
                Some(Key::Enter) if sel == 0 => {
                    // Erase the dialog, as real agents do.
                    self.out("\r\x1b[5A\x1b[J");
                    self.fresh = true;
                    return;
                }
                Some(Key::Enter | Key::Esc | Key::CtrlC | Key::Eof) => self.finish(1),
                _ => continue,
            };
            if new_sel != sel {
                sel = new_sel;
                let redraw = format!(
                    "\r\x1b[3A\x1b[2K{}\r\n\x1b[2K{}\r\n\r\n\x1b[2KPress enter to continue",
                    opt(sel, 0),
                    opt(sel, 1)
                );
                self.out(&redraw);
            }
        }
    }

    fn submit(&mut self) {
        let line = std::mem::take(&mut self.input);
        self.fresh = false;
        match parse_command(&line, self.cfg.turn_ms) {
            Command::Empty => {}
            Command::Quit => {
                self.say("bye");
                if self.cfg.codex_summary {
                    self.say(CODEX_USAGE);
                    self.say(CODEX_RESUME);
                }
                self.finish(0);
            }
            Command::Exit(code) => {
                self.say(&format!("exiting {code}"));
                self.finish(code);
            }
            Command::Print(n) => self.print_bytes(n),
            Command::Hang => self.turn(None, &line),
            Command::Stall { ms } => {
                if self.stalled {
                    self.turn(Some(ms), &line);
                } else {
                    self.stalled = true;
                    self.turn(None, &line);
                }
            }
            Command::Quiet(ms) => self.quiet(ms),
            Command::Task { ms } => self.turn(Some(ms), &line),
            Command::Deaf => self.deaf(),
        }
        for key in self.deferred.drain(..).rev() {
            self.queue.push_front(key);
        }
    }

    /// Show the prompt and never read input again: whatever is typed fills the terminal's input
    /// buffer until writes to it block. Signals still end the agent.
    fn deaf(&mut self) -> ! {
        self.say("deaf");
        self.draw_prompt();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    fn print_bytes(&mut self, n: u64) {
        const BLOCK_LINES: usize = 809; // ~64 KiB per write
        let block = print_block(BLOCK_LINES);
        if !self.fresh {
            self.out("\r\n");
        }
        let mut left = n;
        while left > 0 {
            let k = left.min(block.len() as u64) as usize;
            if !write_all(&block[..k]) {
                self.finish(1);
            }
            left -= k as u64;
        }
        self.fresh = n == 0 || n.is_multiple_of(LINE_WIDTH as u64 + 1);
        if self.fresh {
            self.out("\r");
        }
        self.say(&format!("printed {n}"));
    }

    fn quiet(&mut self, ms: u64) {
        let deadline = Instant::now() + Duration::from_millis(ms);
        loop {
            match self.next_key(Some(deadline)) {
                None => return,
                Some(Key::Esc | Key::CtrlC) => {
                    self.say("interrupted");
                    return;
                }
                Some(k) => self.buffer_key(k),
            }
        }
    }

    /// Typing while busy is not echoed: it is kept and replayed at the next
    /// prompt, as if typed there (so an Enter typed while busy submits then).
    fn buffer_key(&mut self, key: Key) {
        if matches!(
            key,
            Key::Char(_) | Key::Paste(_) | Key::Backspace | Key::Enter
        ) {
            self.deferred.push(key);
        }
    }

    /// A busy turn with a spinner; `ms == None` runs until interrupted.
    fn turn(&mut self, ms: Option<u64>, line: &str) {
        let start = Instant::now();
        if self.cfg.codex_rollout && self.rollout.is_none() {
            self.rollout = rollout::Rollout::create();
        }
        let turn_id = self.rollout.as_mut().map(|r| r.started());
        let deadline = ms.map(|ms| start + Duration::from_millis(ms));
        let mut next_tick = start + TICK;
        self.draw_busy(start, true);
        let done = loop {
            let wake = match deadline {
                Some(d) if d < next_tick => d,
                _ => next_tick,
            };
            match self.next_key(Some(wake)) {
                None => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        break true;
                    }
                    while next_tick <= now {
                        next_tick += TICK;
                    }
                    self.draw_busy(start, false);
                }
                Some(Key::Esc | Key::CtrlC) => break false,
                Some(k) => self.buffer_key(k),
            }
        };
        let mut s = String::new();
        if self.cfg.echo_prompt_while_busy {
            s.push_str("\r\x1b[2K\x1b[1A");
        }
        s.push_str("\r\x1b[2K");
        s.push_str(&self.idle_title());
        self.out(&s);
        self.fresh = true;
        let answer = format!("answer: {}", line.trim());
        if let (Some(rollout), Some(turn_id)) = (self.rollout.as_mut(), turn_id.as_deref()) {
            if done {
                rollout.finished(turn_id, line, &answer);
            } else {
                rollout.aborted(turn_id);
            }
        }
        if done {
            self.say(&answer);
        } else {
            self.say("interrupted");
        }
    }

    fn draw_busy(&mut self, start: Instant, first: bool) {
        let elapsed = start.elapsed();
        let spin = SPINNER[(elapsed.as_millis() / TICK.as_millis()) as usize % SPINNER.len()];
        let status = format!("{spin} Working ({}s • esc to interrupt)", elapsed.as_secs());
        let echo = self.cfg.echo_prompt_while_busy;
        let mut s = String::new();
        if first {
            if !self.fresh {
                s.push_str("\r\n");
            }
        } else {
            if echo {
                s.push_str("\x1b[1A");
            }
            s.push_str("\r\x1b[2K");
        }
        s.push_str(&status);
        if echo {
            s.push_str("\r\n\x1b[2K");
            s.push_str(&self.cfg.prompt);
        }
        s.push_str(&osc_title(&format!("{spin} fake-agent")));
        self.fresh = false;
        self.out(&s);
    }
}

fn main() {
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(cfg)) => cfg,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprint!("fake-agent: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Some(code) = cfg.exit_at_start {
        eprintln!("fatal: fake agent failed to start (code {code})");
        std::process::exit(code);
    }
    install_signal_handlers();
    enable_raw_mode();
    App::new(cfg).run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Parsed, String> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    fn keys(bytes: &[u8]) -> (Vec<Key>, InputParser) {
        let mut p = InputParser::new();
        let mut out = Vec::new();
        p.feed(bytes, Instant::now(), &mut out);
        (out, p)
    }

    #[test]
    fn default_flags() {
        assert_eq!(args(&[]), Ok(Parsed::Run(Config::default())));
        assert_eq!(Config::default().prompt, "> ");
        assert_eq!(Config::default().turn_ms, 1500);
    }

    #[test]
    fn all_flags() {
        let parsed = args(&[
            "--boot-ms",
            "200",
            "--exit-at-start=3",
            "--query-cursor",
            "--bracketed-paste",
            "--title",
            "my title",
            "--banner",
            "OpenAI Codex",
            "--prompt=› ",
            "--dialog",
            "--codex-summary",
            "--turn-ms",
            "50",
            "--echo-prompt-while-busy",
            "--codex-rollout",
            "--paste-draw-ms",
            "40",
        ]);
        let want = Config {
            boot_ms: 200,
            exit_at_start: Some(3),
            query_cursor: true,
            bracketed_paste: true,
            title: Some("my title".into()),
            banner: Some("OpenAI Codex".into()),
            prompt: "› ".into(),
            dialog: true,
            codex_summary: true,
            turn_ms: 50,
            echo_prompt_while_busy: true,
            codex_rollout: true,
            paste_draw_ms: 40,
        };
        assert_eq!(parsed, Ok(Parsed::Run(want)));
    }

    #[test]
    fn codex_adapter_flags_are_ignored() {
        let parsed = args(&[
            "--dangerously-bypass-approvals-and-sandbox",
            "--no-alt-screen",
            "--turn-ms",
            "50",
        ]);
        let want = Config {
            turn_ms: 50,
            ..Config::default()
        };
        assert_eq!(parsed, Ok(Parsed::Run(want)));
        assert!(args(&["--no-alt-screen=1"]).is_err());
    }

    #[test]
    fn bad_flags() {
        assert!(args(&["--nope"]).is_err());
        assert!(args(&["positional"]).is_err());
        assert!(args(&["--boot-ms"]).is_err());
        assert!(args(&["--boot-ms", "x"]).is_err());
        assert!(args(&["--dialog=1"]).is_err());
        assert_eq!(args(&["--help"]), Ok(Parsed::Help));
        assert_eq!(args(&["-h"]), Ok(Parsed::Help));
    }

    #[test]
    fn delay_marker() {
        assert_eq!(parse_delay("do it [delay=250] now"), Some(250));
        assert_eq!(parse_delay("[delay=0]"), Some(0));
        assert_eq!(parse_delay("[delay=x] then [delay=7]"), Some(7));
        assert_eq!(parse_delay("[delay=12"), None);
        assert_eq!(parse_delay("no marker"), None);
    }

    #[test]
    fn commands() {
        assert_eq!(parse_command("   ", 9), Command::Empty);
        assert_eq!(parse_command("/exit", 9), Command::Quit);
        assert_eq!(parse_command("exit 3", 9), Command::Exit(3));
        assert_eq!(parse_command("print 1000", 9), Command::Print(1000));
        assert_eq!(parse_command(" hang ", 9), Command::Hang);
        assert_eq!(parse_command("stall", 9), Command::Stall { ms: 9 });
        assert_eq!(parse_command("quiet 300", 9), Command::Quiet(300));
        assert_eq!(parse_command("hello", 9), Command::Task { ms: 9 });
        assert_eq!(parse_command("hi [delay=40]", 9), Command::Task { ms: 40 });
        assert_eq!(parse_command("exit now", 9), Command::Task { ms: 9 });
        assert_eq!(parse_command("exit3", 9), Command::Task { ms: 9 });
        assert_eq!(parse_command("printer 3", 9), Command::Task { ms: 9 });
    }

    #[test]
    fn plain_keys() {
        let (k, _) = keys(b"a\x7f\x03\r");
        assert_eq!(
            k,
            vec![Key::Char('a'), Key::Backspace, Key::CtrlC, Key::Enter]
        );
        let (k, _) = keys(b"x\r\ny\n");
        assert_eq!(
            k,
            vec![Key::Char('x'), Key::Enter, Key::Char('y'), Key::Enter]
        );
        let (k, _) = keys("é⠋".as_bytes());
        assert_eq!(k, vec![Key::Char('é'), Key::Char('⠋')]);
    }

    #[test]
    fn utf8_split_across_reads() {
        let mut p = InputParser::new();
        let mut out = Vec::new();
        let bytes = "é".as_bytes();
        p.feed(&bytes[..1], Instant::now(), &mut out);
        assert!(out.is_empty());
        p.feed(&bytes[1..], Instant::now(), &mut out);
        assert_eq!(out, vec![Key::Char('é')]);
    }

    #[test]
    fn lone_escape_needs_timeout() {
        let (k, mut p) = keys(b"\x1b");
        assert!(k.is_empty());
        assert!(p.esc_deadline().is_some());
        let mut out = Vec::new();
        p.flush_esc(&mut out);
        assert_eq!(out, vec![Key::Esc]);
        assert!(p.esc_deadline().is_none());
    }

    #[test]
    fn escape_followed_by_other_bytes() {
        let (k, p) = keys(b"\x1bx\x1b\x1b");
        assert_eq!(k, vec![Key::Esc, Key::Char('x'), Key::Esc]);
        assert!(p.esc_deadline().is_some());
    }

    #[test]
    fn csi_sequences() {
        let (k, p) = keys(b"\x1b[A\x1b[B\x1bOA\x1b[1;5C\x1b[12;34R");
        assert_eq!(
            k,
            vec![Key::Up, Key::Down, Key::Up, Key::CursorReport(12, 34)]
        );
        assert!(p.esc_deadline().is_none());
    }

    #[test]
    fn bracketed_paste() {
        let (k, _) = keys(b"a\x1b[200~line1\r\nline2\nx\ty\x1b[201~\r");
        assert_eq!(
            k,
            vec![
                Key::Char('a'),
                Key::Paste("line1 line2 x y".into()),
                Key::Enter
            ]
        );
    }

    #[test]
    fn bracketed_paste_split_across_reads() {
        let data = b"\x1b[200~hi \x1b there\r\x1b[201~";
        let mut p = InputParser::new();
        let mut out = Vec::new();
        for b in data {
            p.feed(&[*b], Instant::now(), &mut out);
        }
        assert_eq!(out, vec![Key::Paste("hi  there ".into())]);
    }

    #[test]
    fn print_block_shape() {
        let b = print_block(3);
        assert_eq!(b.len(), 3 * 81);
        for line in b.chunks(81) {
            assert_eq!(line[80], b'\n');
            assert!(line[..80].iter().all(|c| c.is_ascii_graphic()));
        }
        assert_ne!(b[..80], b[81..161]);
    }
}
