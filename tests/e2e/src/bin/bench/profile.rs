//! `BENCH_PROFILE=1`: a CPU profile of every measured window, by `perf record` over the whole
//! machine (software clock, call graphs), then read back as shares of the samples. Invariant: a
//! profile covers exactly a phase's measured window, and never changes a figure the bench prints
//! beside it (the profiles are read only once every phase has run).
//!
//! JIT code (the Worker's JS and WASM) has no symbols for perf, so the runtime's own frames tell
//! where the time went: the categories below are the runtime's subsystems, matched anywhere on a
//! sample's stack, and a sample counts for the first one it matches. The entry of every request
//! (`kj::HttpServer`) is not one: it is on nearly every stack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Sampling frequency: enough samples in 8 s for shares to ±1 %, little overhead.
const FREQUENCY: &str = "499";

/// The runtime's subsystems, in the order a sample is attributed: a name and the frame fragments
/// that mark it.
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "SQLite (objects' storage, D1)",
        &["sqlite3", "SqlStorage", "transactionSync"],
    ),
    (
        "tail stream (wrangler dev's log feed)",
        &["TailStreamTarget"],
    ),
    (
        "body streams",
        &["ReadableStream", "ReaderImpl", "WritableStream"],
    ),
    ("JS RPC (objects, D1, queues)", &["JsRpc"]),
    (
        "garbage collection",
        &[
            "Scavenger",
            "MarkCompact",
            "cppgc::internal",
            "MinorMarkSweep",
            "ConcurrentMarking",
        ],
    ),
    (
        "HTTP parsing and headers (kj)",
        &[
            "HttpInputStream",
            "HttpOutputStream",
            "kj::HttpHeaders",
            "HttpChunkedEntity",
            "HttpFixedLength",
        ],
    ),
    ("subrequests (fetch)", &["Fetcher::fetch", "fetchImpl"]),
    (
        "WASM compilation",
        &["wasm::Compil", "LiftoffCompiler", "compiler::Pipeline"],
    ),
];

/// A `perf record` running over one measured window.
pub struct Recording {
    child: Child,
    path: PathBuf,
    label: String,
}

/// Starts recording now for `span`, into `dir`, if perf can run; otherwise says why.
pub fn record(dir: &Path, label: &str, span: Duration) -> Option<Recording> {
    std::fs::create_dir_all(dir).ok()?;
    let file = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>();
    let path = dir.join(format!("{file}.data"));
    let child = Command::new("perf")
        .args(["record", "-q", "-F", FREQUENCY, "-g", "-a", "-o"])
        .arg(&path)
        .args(["--", "sleep", &format!("{:.1}", span.as_secs_f64())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(child) => Some(Recording {
            child,
            path,
            label: label.to_string(),
        }),
        Err(e) => {
            eprintln!("[bench] BENCH_PROFILE: perf cannot run ({e}); no profile");
            None
        }
    }
}

impl Recording {
    /// Waits for the recording to end (it stops by itself after its span).
    pub fn finish(mut self) -> Option<Recorded> {
        match self.child.wait() {
            Ok(status) if status.success() => Some(Recorded {
                path: self.path,
                label: self.label,
            }),
            _ => {
                eprintln!(
                    "[bench] BENCH_PROFILE: perf record failed for {}",
                    self.label
                );
                None
            }
        }
    }
}

/// A finished recording, read once the bench is done.
pub struct Recorded {
    path: PathBuf,
    label: String,
}

/// One sample: the process and its stack, leaf first.
struct Sample {
    process: String,
    frames: Vec<String>,
}

fn samples(path: &Path) -> Vec<Sample> {
    let output = Command::new("perf")
        .args(["script", "-F", "comm,pid,ip,sym", "-i"])
        .arg(path)
        .stderr(Stdio::null())
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Reads `perf script -F comm,pid,ip,sym`: a sample's header ("workerd 8192"), then its stack,
/// one tab-indented frame a line ("\tffff8160f948 __mmap_region"), leaf first.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with('\t') {
            samples.push(Sample {
                process: line.split_whitespace().collect::<Vec<_>>().join(" "),
                frames: Vec::new(),
            });
        } else if let Some(sample) = samples.last_mut() {
            let frame = line
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ");
            sample.frames.push(frame);
        }
    }
    samples
}

/// The subsystem a sample's time counts for.
fn category(frames: &[String]) -> &'static str {
    for (name, marks) in CATEGORIES {
        if frames
            .iter()
            .any(|frame| marks.iter().any(|mark| frame.contains(mark)))
        {
            return name;
        }
    }
    // Below every subsystem: JIT code on the stack means the Workers' own JS and WASM ran (with
    // the runtime calls they made directly); none means the runtime's own event loop, V8 and jsg.
    if frames.iter().any(|frame| frame == "[unknown]") {
        "the Workers' JS and WASM (JIT code and its direct calls)"
    } else {
        "the rest of the runtime (event loop, V8, jsg, allocator)"
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// Prints, per recorded window, the processes' shares of the machine and, for the busiest
/// workerd (the stack's runtime), the shares of its subsystems.
pub fn print(recorded: &[Recorded]) {
    if recorded.is_empty() {
        return;
    }
    println!("\nWhere the CPU went (BENCH_PROFILE: perf over each measured window, whole machine)");
    for window in recorded {
        let samples = samples(&window.path);
        if samples.is_empty() {
            println!("  {}: no samples", window.label);
            continue;
        }
        let mut by_process: HashMap<&str, usize> = HashMap::new();
        for sample in &samples {
            *by_process.entry(sample.process.as_str()).or_default() += 1;
        }
        let mut processes: Vec<_> = by_process.into_iter().collect();
        processes.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        let top: Vec<String> = processes
            .iter()
            .take(4)
            .map(|(name, n)| format!("{name} {:.0} %", percent(*n, samples.len())))
            .collect();
        println!(
            "  {} ({} samples): {}",
            window.label,
            samples.len(),
            top.join(", ")
        );
        let Some((runtime, runtime_samples)) = processes
            .iter()
            .find(|(name, _)| name.starts_with("workerd"))
        else {
            continue;
        };
        let mut by_category: HashMap<&str, usize> = HashMap::new();
        for sample in samples.iter().filter(|s| s.process == *runtime) {
            *by_category.entry(category(&sample.frames)).or_default() += 1;
        }
        let mut categories: Vec<_> = by_category.into_iter().collect();
        categories.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        for (name, n) in categories {
            println!("      {:>5.1} %  {name}", percent(n, *runtime_samples));
        }
    }
    let dir = recorded[0]
        .path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    println!("  (indented: shares of the busiest workerd's samples; perf data kept in {dir})");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_stacks_and_counted_for_their_first_subsystem() {
        let text =
            "workerd 8192\n\t55b3 sqlite3VdbeExec\n\t55b4 workerd::api::SqlStorage::exec\n\n\
                    workerd 8192\n\t100e [unknown]\n\t55b5 Builtins_JSEntry\n\n\
                    swapper 0\n\tffff intel_idle\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].process, "workerd 8192");
        assert_eq!(
            samples[0].frames,
            ["sqlite3VdbeExec", "workerd::api::SqlStorage::exec"]
        );
        assert_eq!(
            category(&samples[0].frames),
            "SQLite (objects' storage, D1)"
        );
        assert_eq!(
            category(&samples[1].frames),
            "the Workers' JS and WASM (JIT code and its direct calls)"
        );
        assert_eq!(
            category(&samples[2].frames),
            "the rest of the runtime (event loop, V8, jsg, allocator)"
        );
    }
}
