//! The line discipline of a pseudo-terminal, after Linux's
//! `drivers/tty/n_tty.c`: what the master writes is the terminal's input
//! (typed keys), turned into lines, signals and echo; what the replica
//! writes is its output, processed (`\n` to `\r\n`, tabs) on its way to
//! the master.
//!
//! Plain data, no locking or waking: [`crate::kernel::pty`] owns one per
//! terminal pair, under its lock, and tells waiters and signals the
//! foreground group with what the calls here return.

use std::collections::VecDeque;

use abi::flags::signal::{SIGINT, SIGQUIT};
use abi::flags::termios::*;
use abi::types::Termios;

/// The discipline's input buffer (Linux's N_TTY_BUF_SIZE).
pub const INPUT_MAX: usize = 4096;
/// Bytes written to the master that wait for room in the input buffer
/// (what Linux's flip buffer holds for a pty, about).
pub const PENDING_MAX: usize = 16384;
/// Output waiting for the master to read it (Linux's flip buffer and the
/// master's own input buffer).
pub const OUTPUT_MAX: usize = PENDING_MAX + INPUT_MAX;
/// The most bytes one output byte becomes (a tab expanded to spaces).
const MAX_EXPANSION: usize = 8;

const SIGTSTP: u32 = 20;

/// The termios a new pty's replica starts with: Linux's `tty_std_termios`
/// with the pty driver's `c_cflag` (38400 baud, 8 bits, receiver on).
pub fn default_termios() -> Termios {
    let mut cc = [0u8; 19];
    let init: [u8; 17] = [3, 0o34, 0o177, 0o25, 4, 0, 1, 0, 0o21, 0o23, 0o32, 0, 0o22, 0o17, 0o27, 0o26, 0];
    cc[..17].copy_from_slice(&init);
    Termios {
        c_iflag: ICRNL | IXON,
        c_oflag: OPOST | ONLCR,
        c_cflag: B38400 | CS8 | CREAD,
        c_lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
        c_line: 0,
        c_cc: cc,
    }
}

/// What a read from the replica finds.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplicaRead {
    /// These bytes.
    Data(Vec<u8>),
    /// End of file: an EOF character on an empty line, or VMIN and VTIME
    /// both 0 with nothing to read.
    Eof,
    /// Nothing yet.
    Empty,
}

/// One terminal's line discipline and the queues on either side of it.
pub struct LineDiscipline {
    termios: Termios,
    /// Written to the master, not yet taken in (no room).
    pending: VecDeque<u8>,
    /// Input the replica may read. In canonical mode, complete lines only.
    ready: VecDeque<u8>,
    /// In canonical mode, the lengths of the lines in `ready`, in order;
    /// 0 is an EOF character on an empty line.
    lines: VecDeque<usize>,
    /// The line being typed (canonical mode).
    canon: Vec<u8>,
    /// The next byte is taken literally (VLNEXT).
    literal_next: bool,
    /// Output (and echo) for the master to read.
    out: VecDeque<u8>,
    /// The output column, for tabs and erasing.
    column: usize,
    /// Output stopped by VSTOP or tcflow(TCOOFF).
    stopped: bool,
    /// Where the echo of the input being taken in starts in `out`: Linux
    /// holds echo back until the end of a batch of input, and a signal
    /// character drops what it held.
    echo_mark: usize,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        LineDiscipline {
            termios: default_termios(),
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            lines: VecDeque::new(),
            canon: Vec::new(),
            literal_next: false,
            out: VecDeque::new(),
            column: 0,
            stopped: false,
            echo_mark: 0,
        }
    }
}

fn is_cntrl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

impl LineDiscipline {
    /// The terminal's settings.
    pub fn termios(&self) -> Termios {
        self.termios
    }

    fn iflag(&self, f: u32) -> bool {
        self.termios.c_iflag & f != 0
    }

    fn oflag(&self, f: u32) -> bool {
        self.termios.c_oflag & f != 0
    }

    fn lflag(&self, f: u32) -> bool {
        self.termios.c_lflag & f != 0
    }

    fn canonical(&self) -> bool {
        self.lflag(ICANON)
    }

    /// Whether `c` is the enabled control character at `index`.
    fn is_char(&self, c: u8, index: usize) -> bool {
        let v = self.termios.c_cc[index];
        v != VDISABLE && v == c
    }

    /// New settings. Leaving canonical mode makes the line being typed
    /// readable; entering it makes what was unread a line, as Linux's
    /// n_tty_set_termios. Returns the signals the input taken in meanwhile
    /// raised.
    pub fn set_termios(&mut self, t: Termios) -> Vec<u32> {
        let was = self.canonical();
        self.termios = t;
        match (was, self.canonical()) {
            (true, false) => {
                let line = std::mem::take(&mut self.canon);
                self.ready.extend(line);
                self.lines.clear();
                self.literal_next = false;
            }
            // Unread input is pushed as a line of its own.
            (false, true) if !self.ready.is_empty() => {
                self.lines.clear();
                self.lines.push_back(self.ready.len());
            }
            _ => {}
        }
        if !self.iflag(IXON) {
            self.stopped = false;
        }
        self.take_input()
    }

    // ----- the master's side -----

    /// Room for more bytes written to the master.
    pub fn input_room(&self) -> usize {
        PENDING_MAX - self.pending.len()
    }

    /// Bytes written to the master: as many as there is room for are taken.
    /// Returns how many, and the signals the input raised (for the
    /// foreground group).
    pub fn master_write(&mut self, data: &[u8]) -> (usize, Vec<u32>) {
        let n = data.len().min(self.input_room());
        self.pending.extend(&data[..n]);
        (n, self.take_input())
    }

    /// What the master may read now.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Reads up to `max` bytes of output.
    pub fn master_read(&mut self, max: usize) -> Vec<u8> {
        let n = max.min(self.out.len());
        self.out.drain(..n).collect()
    }

    // ----- the replica's side -----

    /// Whether a read from the replica would find something (a complete
    /// line in canonical mode; else VMIN bytes when VTIME is 0, as Linux's
    /// poll counts, else one).
    pub fn replica_readable(&self) -> bool {
        if self.canonical() {
            return !self.lines.is_empty();
        }
        let (min, time) = (self.termios.c_cc[VMIN] as usize, self.termios.c_cc[VTIME]);
        let want = if time == 0 && min > 0 { min } else { 1 };
        self.ready.len() >= want
    }

    /// How many bytes the replica may read now (FIONREAD).
    pub fn input_len(&self) -> usize {
        self.ready.len()
    }

    /// In non-canonical mode with VMIN 0 and VTIME set, how long a read
    /// waits for a byte, in tenths of a second.
    pub fn read_timeout(&self) -> Option<u8> {
        let (min, time) = (self.termios.c_cc[VMIN], self.termios.c_cc[VTIME]);
        (!self.canonical() && min == 0 && time > 0).then_some(time)
    }

    /// A read of at most `max` bytes from the replica. Returns it and the
    /// signals the input taken in after it (now that there is room) raised.
    pub fn replica_read(&mut self, max: usize) -> (ReplicaRead, Vec<u32>) {
        let r = if self.canonical() {
            match self.lines.front_mut() {
                None => ReplicaRead::Empty,
                Some(0) => {
                    self.lines.pop_front();
                    ReplicaRead::Eof
                }
                Some(len) => {
                    let n = (*len).min(max);
                    *len -= n;
                    if *len == 0 {
                        self.lines.pop_front();
                    }
                    ReplicaRead::Data(self.ready.drain(..n).collect())
                }
            }
        } else {
            let (min, time) = (self.termios.c_cc[VMIN] as usize, self.termios.c_cc[VTIME]);
            if self.ready.is_empty() {
                if min == 0 && time == 0 {
                    ReplicaRead::Eof
                } else {
                    ReplicaRead::Empty
                }
            } else if time == 0 && self.ready.len() < min.min(max) {
                ReplicaRead::Empty
            } else {
                let n = max.min(self.ready.len());
                ReplicaRead::Data(self.ready.drain(..n).collect())
            }
        };
        (r, self.take_input())
    }

    /// Whether the replica may write now.
    pub fn replica_writable(&self) -> bool {
        !self.stopped && OUTPUT_MAX - self.out.len().min(OUTPUT_MAX) >= MAX_EXPANSION
    }

    /// The replica writes `data`: as much as fits is processed into the
    /// output. Returns how many bytes of `data` were taken.
    pub fn replica_write(&mut self, data: &[u8]) -> usize {
        let mut n = 0;
        for &c in data {
            if !self.replica_writable() {
                break;
            }
            self.output_char(c);
            n += 1;
        }
        n
    }

    /// Drops the replica's unread input (its TCIFLUSH), the master's
    /// unread input, that is the replica's output (the master's TCIFLUSH),
    /// or both.
    pub fn flush(&mut self, input: bool, output: bool) {
        if input {
            self.pending.clear();
            self.ready.clear();
            self.lines.clear();
            self.canon.clear();
        }
        if output {
            self.out.clear();
        }
    }

    /// tcflow: suspends or restarts output.
    pub fn set_stopped(&mut self, stopped: bool) {
        self.stopped = stopped;
    }

    // ----- input processing -----

    /// Whether the input buffer can take `c` now. In canonical mode a full
    /// buffer with no complete line still takes characters (and drops
    /// them), so that a newline can end the line, as in Linux.
    fn has_room(&self) -> bool {
        let used = self.ready.len() + self.canon.len();
        used < INPUT_MAX - 1 || (self.canonical() && self.lines.is_empty())
    }

    /// Takes pending input in while there is room.
    fn take_input(&mut self) -> Vec<u32> {
        let mut signals = Vec::new();
        self.echo_mark = self.out.len();
        while let Some(&c) = self.pending.front() {
            if !self.has_room() {
                break;
            }
            self.pending.pop_front();
            if let Some(sig) = self.receive(c) {
                signals.push(sig);
            }
        }
        signals
    }

    /// One byte of input; returns the signal it raised, if any.
    fn receive(&mut self, mut c: u8) -> Option<u32> {
        if self.iflag(ISTRIP) {
            c &= 0x7f;
        }
        if std::mem::take(&mut self.literal_next) {
            self.put_input(c, false);
            return None;
        }
        // Whether Linux's char_map marks `c` special: its echo is then raw.
        let mut special = false;
        if c == b'\r' {
            if self.iflag(IGNCR) {
                return None;
            }
            if self.iflag(ICRNL) {
                c = b'\n';
                special = true;
            }
        } else if c == b'\n' && self.iflag(INLCR) {
            c = b'\r';
            special = true;
        }
        if self.lflag(ISIG) {
            let sig = if self.is_char(c, VINTR) {
                Some(SIGINT)
            } else if self.is_char(c, VQUIT) {
                Some(SIGQUIT)
            } else if self.is_char(c, VSUSP) {
                Some(SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                // Linux flushes the driver's output too, which for a pty is
                // only what the master's side has not taken in yet: the echo
                // held back.
                if !self.lflag(NOFLSH) {
                    self.out.truncate(self.echo_mark);
                    self.ready.clear();
                    self.lines.clear();
                    self.canon.clear();
                }
                self.stopped = false;
                if self.lflag(ECHO) {
                    self.echo_char(c);
                }
                return Some(sig);
            }
        }
        if self.iflag(IXON) {
            if self.is_char(c, VSTOP) {
                self.stopped = true;
                return None;
            }
            if self.is_char(c, VSTART) {
                self.stopped = false;
                return None;
            }
            if self.stopped && self.iflag(IXANY) {
                self.stopped = false;
            }
        }
        if !self.canonical() {
            if self.lflag(ECHO) {
                if special && c == b'\n' {
                    self.output_char(b'\n');
                } else {
                    self.echo_char(c);
                }
            }
            if self.ready.len() < INPUT_MAX - 1 {
                self.ready.push_back(c);
            }
            return None;
        }
        let iexten = self.lflag(IEXTEN);
        if self.is_char(c, VERASE) || self.is_char(c, VKILL) || (iexten && self.is_char(c, VWERASE)) {
            self.erase(c);
        } else if iexten && self.is_char(c, VLNEXT) {
            self.literal_next = true;
            if self.lflag(ECHO) && self.lflag(ECHOCTL) {
                self.push_out(b"^\x08");
            }
        } else if iexten && self.is_char(c, VREPRINT) && self.lflag(ECHO) {
            self.echo_char(c);
            self.output_char(b'\n');
            for b in self.canon.clone() {
                self.echo_char(b);
            }
        } else if c == b'\n' {
            if self.lflag(ECHO) || self.lflag(ECHONL) {
                self.output_char(b'\n');
            }
            self.canon.push(c);
            self.end_line();
        } else if self.is_char(c, VEOF) {
            self.end_line();
        } else if self.is_char(c, VEOL) || (iexten && self.is_char(c, VEOL2)) {
            if self.lflag(ECHO) {
                self.echo_char(c);
            }
            self.canon.push(c);
            self.end_line();
        } else {
            self.put_input(c, special);
        }
        None
    }

    /// An ordinary input byte: echoed, and added to the line (or the
    /// readable input) while there is room.
    fn put_input(&mut self, c: u8, special: bool) {
        if self.lflag(ECHO) {
            if special && c == b'\n' {
                self.output_char(b'\n');
            } else {
                self.echo_char(c);
            }
        }
        if self.canonical() {
            if self.ready.len() + self.canon.len() < INPUT_MAX - 1 {
                self.canon.push(c);
            }
        } else if self.ready.len() < INPUT_MAX - 1 {
            self.ready.push_back(c);
        }
    }

    /// The line being typed is complete: the reader may have it.
    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.canon);
        self.lines.push_back(line.len());
        self.ready.extend(line);
    }

    /// VERASE, VWERASE or VKILL (`c`) in canonical mode, with Linux's
    /// echo of the erasure.
    fn erase(&mut self, c: u8) {
        let echo = self.lflag(ECHO);
        let kill = self.is_char(c, VKILL);
        if kill && (!echo || !self.lflag(ECHOK) || !self.lflag(ECHOKE) || !self.lflag(ECHOE)) {
            self.canon.clear();
            if echo {
                self.echo_char(c);
                if self.lflag(ECHOK) {
                    self.output_char(b'\n');
                }
            }
            return;
        }
        let word = !kill && self.is_char(c, VWERASE);
        let mut seen_word = false;
        while let Some(&last) = self.canon.last() {
            if word {
                let blank = last == b' ' || last == b'\t';
                if blank && seen_word {
                    break;
                }
                seen_word |= !blank;
            }
            self.canon.pop();
            // A UTF-8 character goes whole.
            let mut erased = vec![last];
            if self.iflag(IUTF8) && last & 0xc0 == 0x80 {
                while let Some(&b) = self.canon.last() {
                    self.canon.pop();
                    erased.push(b);
                    if b & 0xc0 != 0x80 {
                        break;
                    }
                }
            }
            if echo {
                if !kill && !word && !self.lflag(ECHOE) {
                    self.echo_char(c);
                } else {
                    let c0 = erased[erased.len() - 1];
                    let cols = if c0 == b'\t' {
                        // Linux recomputes the tab's width; a tab is rare
                        // enough in an erased line to be taken as one cell.
                        1
                    } else if is_cntrl(c0) {
                        if self.lflag(ECHOCTL) {
                            2
                        } else {
                            0
                        }
                    } else {
                        1
                    };
                    for _ in 0..cols {
                        self.push_out(b"\x08 \x08");
                        self.column = self.column.saturating_sub(1);
                    }
                }
            }
            if !kill && !word {
                break;
            }
        }
    }

    // ----- output processing -----

    /// Output for the master. Past OUTPUT_MAX bytes are dropped: only
    /// echo gets there (a replica's write waits for room first), and Linux
    /// drops echo its buffer has no room for.
    fn push_out(&mut self, bytes: &[u8]) {
        let room = OUTPUT_MAX.saturating_sub(self.out.len());
        self.out.extend(&bytes[..bytes.len().min(room)]);
    }

    /// Echoes input byte `c`: control characters as `^X` with ECHOCTL
    /// (not a tab), the rest as output. Echo that finds no room is lost.
    fn echo_char(&mut self, c: u8) {
        if self.out.len() + MAX_EXPANSION > OUTPUT_MAX {
            return;
        }
        if self.lflag(ECHOCTL) && is_cntrl(c) && c != b'\t' {
            self.push_out(&[b'^', c ^ 0o100]);
            self.column += 2;
        } else {
            self.output_char(c);
        }
    }

    /// One byte of output, through Linux's `do_output_char` when OPOST is
    /// set.
    fn output_char(&mut self, c: u8) {
        if !self.oflag(OPOST) {
            self.push_out(&[c]);
            return;
        }
        match c {
            b'\n' => {
                if self.oflag(ONLRET) {
                    self.column = 0;
                }
                if self.oflag(ONLCR) {
                    self.column = 0;
                    self.push_out(b"\r\n");
                    return;
                }
                self.push_out(&[c]);
            }
            b'\r' => {
                if self.oflag(ONOCR) && self.column == 0 {
                    return;
                }
                if self.oflag(OCRNL) {
                    if self.oflag(ONLRET) {
                        self.column = 0;
                    }
                    self.push_out(b"\n");
                    return;
                }
                self.column = 0;
                self.push_out(&[c]);
            }
            b'\t' => {
                let spaces = 8 - (self.column & 7);
                self.column += spaces;
                if self.termios.c_oflag & TABDLY == XTABS {
                    self.push_out(&[b' '; 8][..spaces]);
                } else {
                    self.push_out(&[c]);
                }
            }
            8 => {
                self.column = self.column.saturating_sub(1);
                self.push_out(&[c]);
            }
            _ => {
                let mut c = c;
                if !is_cntrl(c) {
                    if self.oflag(OLCUC) {
                        c = c.to_ascii_uppercase();
                    }
                    // A UTF-8 continuation byte takes no column.
                    if !(self.iflag(IUTF8) && c & 0xc0 == 0x80) {
                        self.column += 1;
                    }
                }
                self.push_out(&[c]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(ld: &mut LineDiscipline, s: &[u8]) -> Vec<u32> {
        let (n, sigs) = ld.master_write(s);
        assert_eq!(n, s.len());
        sigs
    }

    fn shown(ld: &mut LineDiscipline) -> Vec<u8> {
        ld.master_read(usize::MAX)
    }

    #[test]
    fn canonical_lines_echo_and_crnl() {
        let mut ld = LineDiscipline::default();
        typed(&mut ld, b"ab");
        assert!(!ld.replica_readable(), "no line yet");
        typed(&mut ld, b"c\rxy");
        assert_eq!(shown(&mut ld), b"abc\r\nxy");
        assert_eq!(ld.replica_read(100).0, ReplicaRead::Data(b"abc\n".to_vec()));
        assert_eq!(ld.replica_read(100).0, ReplicaRead::Empty);
        typed(&mut ld, b"\x04");
        assert_eq!(ld.replica_read(1).0, ReplicaRead::Data(b"x".to_vec()));
        assert_eq!(ld.replica_read(100).0, ReplicaRead::Data(b"y".to_vec()));
        typed(&mut ld, b"\x04");
        assert_eq!(ld.replica_read(100).0, ReplicaRead::Eof);
    }

    #[test]
    fn erase_kill_and_word_erase() {
        let mut ld = LineDiscipline::default();
        typed(&mut ld, b"hello wor\x7f\x7fld\x17there\n");
        assert_eq!(ld.replica_read(100).0, ReplicaRead::Data(b"hello there\n".to_vec()));
        assert_eq!(shown(&mut ld), b"hello wor\x08 \x08\x08 \x08ld\x08 \x08\x08 \x08\x08 \x08there\r\n");
        typed(&mut ld, b"junk\x15ok\n");
        assert_eq!(ld.replica_read(100).0, ReplicaRead::Data(b"ok\n".to_vec()));
    }

    #[test]
    fn signals_flush_and_echo() {
        let mut ld = LineDiscipline::default();
        typed(&mut ld, b"partial");
        assert_eq!(typed(&mut ld, b"\x03"), vec![SIGINT]);
        assert_eq!(shown(&mut ld), b"partial^C");
        // Echo of the same batch of input is dropped with it.
        assert_eq!(typed(&mut ld, b"more\x03"), vec![SIGINT]);
        assert_eq!(shown(&mut ld), b"^C");
        typed(&mut ld, b"x\n");
        assert_eq!(ld.replica_read(100).0, ReplicaRead::Data(b"x\n".to_vec()));
        assert_eq!(typed(&mut ld, b"\x1c\x1a"), vec![SIGQUIT, SIGTSTP]);
    }

    #[test]
    fn raw_mode_vmin_vtime() {
        let mut ld = LineDiscipline::default();
        let mut t = ld.termios();
        t.c_lflag &= !(ICANON | ECHO | ISIG);
        t.c_cc[VMIN] = 3;
        t.c_cc[VTIME] = 0;
        ld.set_termios(t);
        typed(&mut ld, b"\x03a");
        assert!(!ld.replica_readable());
        assert_eq!(ld.replica_read(10).0, ReplicaRead::Empty);
        typed(&mut ld, b"b");
        assert_eq!(ld.replica_read(10).0, ReplicaRead::Data(b"\x03ab".to_vec()));
        t.c_cc[VMIN] = 0;
        ld.set_termios(t);
        assert_eq!(ld.replica_read(10).0, ReplicaRead::Eof);
        assert!(shown(&mut ld).is_empty());
    }

    #[test]
    fn switching_modes_keeps_unread_input() {
        let mut ld = LineDiscipline::default();
        typed(&mut ld, b"abc");
        let mut t = ld.termios();
        t.c_lflag &= !ICANON;
        ld.set_termios(t);
        assert_eq!(ld.replica_read(2).0, ReplicaRead::Data(b"ab".to_vec()));
        typed(&mut ld, b"d");
        t.c_lflag |= ICANON;
        ld.set_termios(t);
        typed(&mut ld, b"ef\n");
        assert_eq!(ld.replica_read(10).0, ReplicaRead::Data(b"cd".to_vec()));
        assert_eq!(ld.replica_read(10).0, ReplicaRead::Data(b"ef\n".to_vec()));
    }

    #[test]
    fn output_processing() {
        let mut ld = LineDiscipline::default();
        assert_eq!(ld.replica_write(b"a\tb\n"), 4);
        assert_eq!(shown(&mut ld), b"a\tb\r\n");
        let mut t = ld.termios();
        t.c_oflag |= XTABS;
        ld.set_termios(t);
        ld.replica_write(b"ab\tc");
        assert_eq!(shown(&mut ld), b"ab      c");
        t.c_oflag = 0;
        ld.set_termios(t);
        ld.replica_write(b"\n");
        assert_eq!(shown(&mut ld), b"\n");
    }

    #[test]
    fn echo_is_bounded() {
        let mut ld = LineDiscipline::default();
        // ^R reprints the line: unread echo must not grow without end.
        for _ in 0..100 {
            typed(&mut ld, &[0o22; 1000]);
        }
        assert!(ld.output_len() <= OUTPUT_MAX);
    }

    #[test]
    fn bounded_queues() {
        let mut ld = LineDiscipline::default();
        let big = vec![b'x'; OUTPUT_MAX * 2];
        let n = ld.replica_write(&big);
        assert!(n < big.len() && n >= OUTPUT_MAX - MAX_EXPANSION);
        assert_eq!(ld.replica_write(b"y"), 0);
        // A line longer than the buffer is cut, and a newline still ends it.
        let mut ld = LineDiscipline::default();
        let mut t = ld.termios();
        t.c_lflag &= !ECHO;
        ld.set_termios(t);
        typed(&mut ld, &vec![b'z'; 5000]);
        typed(&mut ld, b"\n");
        match ld.replica_read(10_000).0 {
            ReplicaRead::Data(d) => assert_eq!((d.len(), d.last()), (INPUT_MAX, Some(&b'\n'))),
            r => panic!("{r:?}"),
        }
        let (n, _) = ld.master_write(&vec![0u8; PENDING_MAX * 2]);
        assert!(n <= PENDING_MAX);
    }
}

/// A line discipline as a checkpoint keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LdSnapshot {
    /// The termios, as its bytes.
    pub termios: Vec<u8>,
    /// Written to the master, not yet taken in.
    pub pending: Vec<u8>,
    /// Input the replica may read.
    pub ready: Vec<u8>,
    /// The lengths of the complete lines in `ready`.
    pub lines: Vec<u64>,
    /// The line being typed.
    pub canon: Vec<u8>,
    /// VLNEXT was typed.
    pub literal_next: bool,
    /// Output for the master to read.
    pub out: Vec<u8>,
    /// The output column.
    pub column: u64,
    /// Output stopped.
    pub stopped: bool,
    /// Where held-back echo starts in `out`.
    pub echo_mark: u64,
}

impl LineDiscipline {
    /// Its state, for a checkpoint.
    pub fn snapshot(&self) -> LdSnapshot {
        use zerocopy::IntoBytes;
        LdSnapshot {
            termios: self.termios.as_bytes().to_vec(),
            pending: self.pending.iter().copied().collect(),
            ready: self.ready.iter().copied().collect(),
            lines: self.lines.iter().map(|&n| n as u64).collect(),
            canon: self.canon.clone(),
            literal_next: self.literal_next,
            out: self.out.iter().copied().collect(),
            column: self.column as u64,
            stopped: self.stopped,
            echo_mark: self.echo_mark as u64,
        }
    }

    /// A discipline in the state `s`; `None` if the state is not one a
    /// discipline can be in (queues past their bounds, lines longer than
    /// the input).
    pub fn from_snapshot(s: &LdSnapshot) -> Option<LineDiscipline> {
        use zerocopy::FromBytes;
        let termios = Termios::read_from_bytes(&s.termios).ok()?;
        let line_bytes = s.lines.iter().try_fold(0u64, |a, &n| a.checked_add(n))?;
        let fits = s.pending.len() <= PENDING_MAX
            && s.ready.len() + s.canon.len() <= INPUT_MAX
            && s.out.len() <= OUTPUT_MAX * MAX_EXPANSION
            && line_bytes <= s.ready.len() as u64
            && s.lines.len() <= INPUT_MAX
            && s.echo_mark <= s.out.len() as u64
            && s.column <= OUTPUT_MAX as u64;
        fits.then(|| LineDiscipline {
            termios,
            pending: s.pending.iter().copied().collect(),
            ready: s.ready.iter().copied().collect(),
            lines: s.lines.iter().map(|&n| n as usize).collect(),
            canon: s.canon.clone(),
            literal_next: s.literal_next,
            out: s.out.iter().copied().collect(),
            column: s.column as usize,
            stopped: s.stopped,
            echo_mark: s.echo_mark as usize,
        })
    }
}
