//! Resident memory of the bench process, from `/proc/self/status` (Linux).

/// Resets the peak-RSS mark (`VmHWM`), so the next reading is the peak from now on.
pub(crate) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A `/proc/self/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub(crate) fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}
