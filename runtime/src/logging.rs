//! Husk's own log: where it goes and in which format.
//!
//! runc's contract with containerd: `--log FILE --log-format json` gets one
//! JSON object per line, `{"level":"error","msg":"...","time":"..."}`, and
//! the shim shows the last error's `msg` to the user when a command fails.
//! The app's stdio is never mixed with this log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// The log's line format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `husk: LEVEL: message`.
    Text,
    /// runc's JSON lines.
    Json,
}

/// Where the log goes.
pub struct LogConfig<'a> {
    /// `--log FILE`: append there; otherwise stderr.
    pub file: Option<&'a Path>,
    /// `--log-format`.
    pub format: LogFormat,
    /// `--debug`.
    pub debug: bool,
    /// `--debug-log DIR`: also a full debug log per command in DIR.
    pub debug_dir: Option<(&'a Path, &'a str)>,
}

struct Sink {
    out: Mutex<Box<dyn Write + Send>>,
    level: LevelFilter,
    format: LogFormat,
}

struct Logger {
    sinks: Vec<Sink>,
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        self.sinks.iter().any(|s| m.level() <= s.level)
    }

    fn log(&self, rec: &Record) {
        for sink in &self.sinks {
            if rec.level() > sink.level {
                continue;
            }
            let line = format_line(sink.format, rec.level(), &rec.args().to_string(), &chrono_now());
            let mut out = sink.out.lock().unwrap_or_else(|e| e.into_inner());
            // One write per line, so lines from several processes appending to
            // one file do not interleave.
            let _ = out.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        for sink in &self.sinks {
            let _ = sink.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}

/// Now, as log and audit lines write it (RFC 3339, UTC, nanoseconds).
pub fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// One log line, newline included.
pub fn format_line(format: LogFormat, level: Level, msg: &str, time: &str) -> String {
    match format {
        LogFormat::Text => format!("husk: {}: {msg}\n", level.as_str().to_lowercase()),
        LogFormat::Json => {
            let v = serde_json::json!({ "level": level.as_str().to_lowercase(), "msg": msg, "time": time });
            format!("{v}\n")
        }
    }
}

/// The level named by `RUST_LOG` (a plain level name), if any.
fn env_level() -> Option<LevelFilter> {
    std::env::var("RUST_LOG").ok().and_then(|v| v.parse().ok())
}

/// Installs the logger. Without `--log`, only errors reach stderr (the
/// app's stderr is shared); with it, the file gets warnings and errors, and
/// info too in text format (`husk run --log`); `--debug` or `RUST_LOG`
/// raise or lower that.
pub fn init(cfg: &LogConfig) -> anyhow::Result<()> {
    let mut sinks = Vec::new();
    let default = match (cfg.file, cfg.format) {
        (None, _) => LevelFilter::Error,
        (Some(_), LogFormat::Text) => LevelFilter::Info,
        (Some(_), LogFormat::Json) => LevelFilter::Warn,
    };
    let level = if cfg.debug { LevelFilter::Debug } else { env_level().unwrap_or(default) };
    let out: Box<dyn Write + Send> = match cfg.file {
        Some(p) => Box::new(open_append(p)?),
        None => Box::new(std::io::stderr()),
    };
    sinks.push(Sink { out: Mutex::new(out), level, format: cfg.format });
    if let Some((dir, command)) = cfg.debug_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("debug log directory {}", dir.display()))?;
        let path: PathBuf = dir.join(format!("husk.{}.{command}.log", std::process::id()));
        sinks.push(Sink {
            out: Mutex::new(Box::new(open_append(&path)?)),
            level: LevelFilter::Debug,
            format: LogFormat::Text,
        });
    }
    let max = sinks.iter().map(|s| s.level).max().unwrap_or(LevelFilter::Error);
    log::set_boxed_logger(Box::new(Logger { sinks })).context("installing the logger")?;
    log::set_max_level(max);
    Ok(())
}

fn open_append(p: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(p).with_context(|| format!("log file {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_what_the_shim_parses() {
        let line = format_line(LogFormat::Json, Level::Error, "exec: \"nope\": not found", "2026-01-01T00:00:00Z");
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "exec: \"nope\": not found");
        assert_eq!(v["time"], "2026-01-01T00:00:00Z");
    }

    #[test]
    fn text_lines_name_the_level() {
        assert_eq!(format_line(LogFormat::Text, Level::Warn, "x", "t"), "husk: warn: x\n");
    }
}
