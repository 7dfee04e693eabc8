//! What the bench reads of the machine through /proc: how much of the CPU other processes took
//! while a route was measured (the figures are only comparable on a quiet machine), and when a
//! workerd process started (for cold starts). Invariant: read-only; nothing here signals or
//! changes a process.

use std::collections::HashMap;
use std::time::Duration;

/// Kernel ticks per second of the times in /proc (USER_HZ).
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// The fields of /proc/<pid>/stat after the command name (which may contain spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = text.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

struct ProcStat {
    pid: u32,
    ppid: u32,
    pgrp: i32,
    /// utime + stime, in ticks.
    cpu_ticks: u64,
    /// Since boot, in ticks.
    start_ticks: u64,
}

fn processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            // Fields after the name: state(0) ppid(1) pgrp(2) … utime(11) stime(12) … starttime(19).
            let f = stat_fields(pid)?;
            let number = |i: usize| f.get(i)?.parse::<u64>().ok();
            Some(ProcStat {
                pid,
                ppid: number(1)? as u32,
                pgrp: f.get(2)?.parse().ok()?,
                cpu_ticks: number(11)? + number(12)?,
                start_ticks: number(19)?,
            })
        })
        .collect()
}

/// CPU ticks of this process and all its descendants (wrangler, workerd, the builds they run).
fn our_ticks(all: &[ProcStat]) -> u64 {
    let me = std::process::id();
    all.iter().find(|p| p.pid == me).map_or(0, |p| p.cpu_ticks) + descendant_ticks(all)
}

/// CPU ticks of the processes this one started, and theirs.
fn descendant_ticks(all: &[ProcStat]) -> u64 {
    let mut children: HashMap<u32, Vec<&ProcStat>> = HashMap::new();
    for p in all {
        children.entry(p.ppid).or_default().push(p);
    }
    let me = std::process::id();
    let mut total = 0;
    let mut stack = vec![me];
    while let Some(pid) = stack.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            total += child.cpu_ticks;
            stack.push(child.pid);
        }
    }
    total
}

/// A reading of the machine's CPU counters.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    total: u64,
    /// user + nice + system, of every process.
    work: u64,
    /// Taken by the hypervisor for other machines.
    steal: u64,
    ours: u64,
}

pub fn cpu_reading() -> CpuReading {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let numbers: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    let at = |i: usize| numbers.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    CpuReading {
        total: (0..8).map(at).sum(),
        work: at(0) + at(1) + at(2),
        steal: at(7),
        ours: our_ticks(&processes()),
    }
}

/// The share of the whole machine (0..1) that processes other than the bench's own, and the
/// hypervisor, took between two readings.
pub fn foreign_share(before: &CpuReading, after: &CpuReading) -> f64 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0.0;
    }
    let work = after.work.saturating_sub(before.work);
    let ours = after.ours.saturating_sub(before.ours);
    let steal = after.steal.saturating_sub(before.steal);
    (work.saturating_sub(ours) + steal) as f64 / total as f64
}

/// How many cores the processes the bench started (the stack, the floor, the reference) kept
/// busy during `window`, while the bench itself sends nothing: above a few percent, work such as
/// an alarm or a queue batch is still running.
pub fn idle_load(window: Duration) -> f64 {
    let before = descendant_ticks(&processes());
    std::thread::sleep(window);
    let after = descendant_ticks(&processes());
    after.saturating_sub(before) as f64 / ticks_per_second() as f64 / window.as_secs_f64()
}

/// Time since boot (CLOCK_BOOTTIME, the clock of /proc start times).
pub fn since_boot() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// When the workerd of process group `pgid` that runs the Workers started, since boot
/// (resolution: one tick, 10 ms). wrangler dev runs two: a proxy on the public port, which is
/// skipped, and the runtime of the Workers. `None` unless exactly one such runtime is alive.
pub fn runtime_started(pgid: i32, public_port: u16) -> Option<Duration> {
    let proxy_socket = format!("entry=127.0.0.1:{public_port}");
    let runtimes: Vec<u64> = processes()
        .into_iter()
        .filter(|p| p.pgrp == pgid)
        .filter(|p| {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let program = cmdline.split(' ').next().unwrap_or_default();
            program.ends_with("/workerd") && !cmdline.contains(&proxy_socket)
        })
        .map(|p| p.start_ticks)
        .collect();
    match runtimes.as_slice() {
        [ticks] => Some(Duration::from_secs_f64(
            *ticks as f64 / ticks_per_second() as f64,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_and_counted() {
        let all = processes();
        let me = all.iter().find(|p| p.pid == std::process::id()).unwrap();
        assert!(me.start_ticks > 0);
        assert!(our_ticks(&all) >= me.cpu_ticks);
        let share = foreign_share(&cpu_reading(), &cpu_reading());
        assert!((0.0..=1.0).contains(&share));
        assert!(since_boot() > Duration::from_secs(0));
    }
}
