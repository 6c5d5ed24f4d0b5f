extension Duration {
    /// Whole milliseconds, rounded up so short positive durations stay positive; clamped to Int32.
    var roundedUpMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        var ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if attoseconds % 1_000_000_000_000_000 > 0 { ms += 1 }
        return Int32(clamping: max(0, ms))
    }
}
