/// Numbers written straight into a JSON body, without a `String` each: a long series page is
/// mostly numbers, and `description` built, copied and freed a string for every one of them.
public enum JSONNumbers {
    /// The decimal digits of `v`.
    public static func append(_ v: Int64, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 19 digits and a sign
        withUnsafeMutableBytes(of: &digits) { buffer in
            var u = v.magnitude
            var at = buffer.count
            repeat {
                at -= 1
                buffer[at] = UInt8(truncatingIfNeeded: u % 10) &+ 48
                u /= 10
            } while u > 0
            if v < 0 {
                at -= 1
                buffer[at] = UInt8(ascii: "-")
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[at...]))
        }
    }

    /// `v` as JSON: exactly `v.description` (the shortest decimal that reads back as `v`), or
    /// `null` when it is not finite. Values of at most 15 significant digits and 9 decimals
    /// between 10⁻⁴ and 10¹⁵ — what sensors send — are written from their decimal mantissa; the
    /// rest go through `description`.
    public static func append(_ v: Double, to out: inout [UInt8]) {
        guard v.isFinite else {
            out.append(contentsOf: "null".utf8)
            return
        }
        guard let (m, e) = shortDecimal(v) else {
            out.append(contentsOf: v.description.utf8)
            return
        }
        if m < 0 { out.append(UInt8(ascii: "-")) }
        let start = out.count
        append(Int64(m.magnitude), to: &out)
        if e == 0 {
            out.append(contentsOf: ".0".utf8)
            return
        }
        // Leading zeros so that at least one digit stands before the point, then the point.
        let digits = out.count - start
        if digits <= e { out.insert(contentsOf: repeatElement(UInt8(ascii: "0"), count: e + 1 - digits), at: start) }
        out.insert(UInt8(ascii: "."), at: out.count - e)
    }

    private static let pow10: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]

    /// The mantissa `m` and the fewest decimals `e` ≤ 9 with `m / 10^e` reading back as exactly
    /// `v`, |m| < 10¹⁵ (at most 15 digits: no two such decimals are one double, so these digits
    /// are `description`'s), for 10⁻⁴ ≤ |v| < 10¹⁵ (`description` uses exponents outside) or
    /// +0; nil otherwise.
    static func shortDecimal(_ v: Double) -> (m: Int64, e: Int)? {
        if v == 0 { return v.sign == .plus ? (0, 0) : nil }
        let a = v.magnitude
        guard a >= 1e-4, a < 1e15 else { return nil }
        for e in 0..<pow10.count {
            let x = (v * pow10[e]).rounded()
            guard x.magnitude < 1e15 else { return nil }
            if x / pow10[e] == v { return (Int64(x), e) }
        }
        return nil
    }
}
