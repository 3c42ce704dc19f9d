#if canImport(Glibc)
import Glibc
#endif

/// The two clocks every program reads: wall time for reading timestamps, monotonic time for
/// intervals (pacing, timeouts, durations) that must not jump with NTP.
public enum SystemClock {
    /// UTC epoch milliseconds.
    public static func wallMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Seconds on the monotonic clock (arbitrary origin).
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
