/// Small dense linear algebra for the health model (a machine has tens of sensors, so plain
/// loops over row-major `[Double]` are fast enough and keep the target dependency-free).
enum LinearAlgebra {
    /// Cholesky factor `L` (lower, row-major) of a symmetric positive definite `n×n` matrix, or
    /// nil when it is not positive definite.
    static func cholesky(_ a: [Double], n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        return l
    }

    /// The inverse of a symmetric positive definite matrix through its Cholesky factor.
    static func inverseSPD(_ a: [Double], n: Int) -> [Double]? {
        guard let l = cholesky(a, n: n) else { return nil }
        var inv = [Double](repeating: 0, count: n * n)
        var col = [Double](repeating: 0, count: n)
        for c in 0..<n {
            // Solve L y = e_c, then Lᵀ x = y.
            for i in 0..<n {
                var s = i == c ? 1.0 : 0.0
                for k in 0..<i { s -= l[i * n + k] * col[k] }
                col[i] = s / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var s = col[i]
                for k in (i + 1)..<n { s -= l[k * n + i] * col[k] }
                col[i] = s / l[i * n + i]
            }
            for r in 0..<n { inv[r * n + c] = col[r] }
        }
        // Symmetrise away rounding so scores do not depend on which triangle is read.
        for i in 0..<n {
            for j in 0..<i {
                let m = (inv[i * n + j] + inv[j * n + i]) / 2
                inv[i * n + j] = m
                inv[j * n + i] = m
            }
        }
        return inv
    }
}
