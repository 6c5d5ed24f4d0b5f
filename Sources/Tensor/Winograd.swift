// 3×3 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms
// for Convolutional Neural Networks", 2016): each 2×2 output tile comes from a 4×4 input tile with
// 16 multiplications per (input, output) channel pair instead of 36. The products become 16
// independent matrix products [OC, C]·[C, tiles], one per point of the transformed tile.

/// Whether ``winogradConv3x3`` serves a convolution of this shape: 3×3, stride 1, dilation 1,
/// one group, enough channels for the 16 products to be real matrix products, and enough tiles
/// to repay transforming the weights on every call.
func winogradApplies(
    kernelH: Int, kernelW: Int, options: Conv2DOptions, inputChannels: Int, outputChannels: Int, tiles: Int
) -> Bool {
    kernelH == 3 && kernelW == 3 && options.strideH == 1 && options.strideW == 1
        && options.dilationH == 1 && options.dilationW == 1 && options.groups == 1
        && inputChannels >= 32 && outputChannels >= 32 && tiles >= WinogradF2x3.minimumTiles
}

enum WinogradF2x3 {
    /// Fewer 2×2 output tiles than this (over the batch) and the per-call weight transform costs
    /// more than the multiplications save. Tuned with `chaperone bench gemm` (2 threads, batch 1)
    /// with the eight-lane transforms: 256 tiles 1.1–1.5× faster than im2col, 64 tiles 2.2×
    /// slower; at 128 tiles (the 16×16 level at batch 2) the whole SD-1.5 UNet's convolutions
    /// took 4.55 s against 3.6 s (ops/bench/README.md).
    static let minimumTiles = 256

    /// Tiles transformed and multiplied together: as many as keep V and M for one chunk near
    /// 4 M floats (16 MB), at least 256 so the products stay real matrix products, and a
    /// multiple of 16.
    static func tileChunk(channels: Int, outputChannels: Int, tiles: Int) -> Int {
        let budget = (4 << 20) / (16 * (channels + outputChannels))
        let chunk = Swift.max(256, budget / 16 * 16)
        return Swift.min(chunk, tiles)
    }
}

/// `y[n, oc, ho, wo] = bias[oc] + Σ x[n, c, ho + i − padTop, wo + j − padLeft]·w[oc, c, i, j]`
/// for a 3×3 kernel, stride 1, no dilation, one group; zero outside the input.
/// `y` is written, not accumulated; plane (n, oc) starts `outputPlaneStride` floats (default
/// Ho·Wo) after the previous one. `transformedWeights` (from `winogradTransformedWeights`)
/// saves transforming the same weights again, as row bands of one layer do.
func winogradConv3x3(
    input x: UnsafePointer<Float>, batch n: Int, channels c: Int, height h: Int, width w: Int,
    weight: UnsafePointer<Float>, outputChannels oc: Int, bias: UnsafePointer<Float>?,
    padTop: Int, padLeft: Int, outHeight ho: Int, outWidth wo: Int,
    output y: UnsafeMutablePointer<Float>, outputPlaneStride: Int? = nil, transformedWeights: [Float]? = nil
) {
    let planeStride = outputPlaneStride ?? ho * wo
    let tilesH = (ho + 1) / 2, tilesW = (wo + 1) / 2
    let tilesPerSample = tilesH * tilesW
    let t = n * tilesPerSample
    let u = transformedWeights ?? winogradTransformedWeights(weight, outputChannels: oc, channels: c)
    precondition(u.count == 16 * oc * c, "winogradConv3x3: transformed weights hold \(u.count) floats, need \(16 * oc * c)")
    // The tiles go through in chunks whose transformed input V[ξ][c][tile] and products
    // M[ξ][oc][tile] stay small (a 512×512 VAE layer would otherwise hold 1 GB of them); every
    // tile's arithmetic is the same whatever the chunking and thread count.
    let chunk = WinogradF2x3.tileChunk(channels: c, outputChannels: oc, tiles: t)
    let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * chunk)
    let m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * oc * chunk)
    defer {
        v.deallocate()
        m.deallocate()
    }
    u.withUnsafeBufferPointer { ub in
        let u = ub.baseAddress!
        var first = 0
        while first < t {
            let count = Swift.min(chunk, t - first)
            winogradInputTransform(
                x, channels: c, height: h, width: w, tilesW: tilesW, tilesPerSample: tilesPerSample,
                padTop: padTop, padLeft: padLeft, firstTile: first, count: count, into: v)
            // 16 independent products, each whole on one thread: the same result at any
            // thread count.
            parallelFor(16) { range in
                for xi in range {
                    sgemm(transA: false, transB: false, m: oc, n: count, k: c,
                          a: u + xi * oc * c, lda: c, b: v + xi * c * count, ldb: count,
                          c: m + xi * oc * count, ldc: count, parallel: false)
                }
            }
            winogradOutputTransform(
                m, outputChannels: oc, bias: bias, outHeight: ho, outWidth: wo, tilesW: tilesW,
                tilesPerSample: tilesPerSample, firstTile: first, count: count, into: y, outputPlaneStride: planeStride)
            first += count
        }
    }
}

/// U[ξ][oc][c] = (G g Gᵀ)[ξ] of a [oc, c, 3, 3] weight, G = [[1, 0, 0], [½, ½, ½], [½, −½, ½],
/// [0, 0, 1]]: 16·oc·c floats.
func winogradTransformedWeights(_ weight: UnsafePointer<Float>, outputChannels oc: Int, channels c: Int) -> [Float] {
    var u = [Float](unsafeUninitializedCapacity: 16 * oc * c) { _, count in count = 16 * oc * c }
    u.withUnsafeMutableBufferPointer { ub in
        let u = ub.baseAddress!
        let pairs = oc * c
        parallelFor(pairs, minimumPerChunk: 1024) { range in
          withUnsafeTemporaryAllocation(of: Float.self, capacity: 12) { scratch in
            let tmp = scratch.baseAddress!
            for pair in range {
                let g = weight + pair * 9
                // Rows: tmp = G·g (4×3).
                for col in 0..<3 {
                    let g0 = g[col], g1 = g[3 + col], g2 = g[6 + col]
                    tmp[col] = g0
                    tmp[3 + col] = 0.5 * (g0 + g1 + g2)
                    tmp[6 + col] = 0.5 * (g0 - g1 + g2)
                    tmp[9 + col] = g2
                }
                // Columns: (G·g)·Gᵀ (4×4).
                for row in 0..<4 {
                    let a0 = tmp[row * 3], a1 = tmp[row * 3 + 1], a2 = tmp[row * 3 + 2]
                    u[(row * 4 + 0) * pairs + pair] = a0
                    u[(row * 4 + 1) * pairs + pair] = 0.5 * (a0 + a1 + a2)
                    u[(row * 4 + 2) * pairs + pair] = 0.5 * (a0 - a1 + a2)
                    u[(row * 4 + 3) * pairs + pair] = a2
                }
            }
          }
        }
    }
    return u
}

/// V[ξ][ch][local] = (Bᵀ d B)[ξ] of the 4×4 input tile d of tile `firstTile + local`, for
/// `count` tiles (numbered over the batch, row by row), zero outside the input.
///
/// Runs of eight tiles of one tile row that lie inside the input go through eight lanes at
/// once (each lane the scalar path's arithmetic); tiles at the edges go one at a time.
private func winogradInputTransform(
    _ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, tilesW: Int, tilesPerSample: Int,
    padTop: Int, padLeft: Int, firstTile: Int, count: Int, into v: UnsafeMutablePointer<Float>
) {
    let planeStride = c * count
    parallelFor(c) { range in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { scratch in
        let patch = scratch.baseAddress!, e = patch + 16
        for ch in range {
            var tile = WinogradTileCursor(firstTile, tilesW: tilesW, tilesPerSample: tilesPerSample)
            var local = 0
            while local < count {
                let (s, ti, tj) = (tile.sample, tile.row, tile.column)
                let src = x + (s * c + ch) * h * w
                let top = 2 * ti - padTop, left = 2 * tj - padLeft
                let at = ch * count + local
                let step: Int
                if tj + 8 <= tilesW, local + 8 <= count, top >= 0, top + 4 <= h, left >= 0, left + 18 <= w {
                    // Lane t is tile tj + t: its column q is input column left + 2t + q, the even
                    // or odd lanes of 16-wide loads at left and left + 2.
                    let d0 = winogradColumns(src + top * w + left), d1 = winogradColumns(src + (top + 1) * w + left)
                    let d2 = winogradColumns(src + (top + 2) * w + left), d3 = winogradColumns(src + (top + 3) * w + left)
                    // Bᵀ·d on rows, then the same on columns, as in the scalar path below.
                    for r in 0..<4 {
                        let (e0, e1, e2, e3): (FloatVector, FloatVector, FloatVector, FloatVector)
                        switch r {
                        case 0: (e0, e1, e2, e3) = (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
                        case 1: (e0, e1, e2, e3) = (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
                        case 2: (e0, e1, e2, e3) = (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
                        default: (e0, e1, e2, e3) = (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
                        }
                        let out = UnsafeMutableRawPointer(v + (r * 4) * planeStride + at)
                        let stride = planeStride * MemoryLayout<Float>.stride
                        out.storeBytes(of: e0 - e2, toByteOffset: 0, as: FloatVector.self)
                        out.storeBytes(of: e1 + e2, toByteOffset: stride, as: FloatVector.self)
                        out.storeBytes(of: e2 - e1, toByteOffset: 2 * stride, as: FloatVector.self)
                        out.storeBytes(of: e1 - e3, toByteOffset: 3 * stride, as: FloatVector.self)
                    }
                    step = 8
                } else {
                    for r in 0..<4 {
                        let ih = top + r
                        let dst = patch + r * 4
                        guard ih >= 0, ih < h else {
                            dst.update(repeating: 0, count: 4)
                            continue
                        }
                        let row = src + ih * w
                        if left >= 0, left + 4 <= w {
                            dst.update(from: row + left, count: 4)
                        } else {
                            for q in 0..<4 {
                                let iw = left + q
                                dst[q] = iw >= 0 && iw < w ? row[iw] : 0
                            }
                        }
                    }
                    // Bᵀ·d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3.
                    for q in 0..<4 {
                        let d0 = patch[q], d1 = patch[4 + q], d2 = patch[8 + q], d3 = patch[12 + q]
                        e[q] = d0 - d2
                        e[4 + q] = d1 + d2
                        e[8 + q] = d2 - d1
                        e[12 + q] = d1 - d3
                    }
                    // (Bᵀ·d)·B: the same on columns.
                    for r in 0..<4 {
                        let e0 = e[r * 4], e1 = e[r * 4 + 1], e2 = e[r * 4 + 2], e3 = e[r * 4 + 3]
                        v[(r * 4 + 0) * planeStride + at] = e0 - e2
                        v[(r * 4 + 1) * planeStride + at] = e1 + e2
                        v[(r * 4 + 2) * planeStride + at] = e2 - e1
                        v[(r * 4 + 3) * planeStride + at] = e1 - e3
                    }
                    step = 1
                }
                local += step
                tile.advance(by: step)
            }
        }
      }
    }
}

/// Columns q = 0…3 of eight tiles side by side: lane t holds `row[2t + q]` (reads row[0…17]).
@inline(__always)
private func winogradColumns(_ row: UnsafePointer<Float>) -> (FloatVector, FloatVector, FloatVector, FloatVector) {
    let a = UnsafeRawPointer(row).loadUnaligned(as: SIMD16<Float>.self)
    let b = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD16<Float>.self)
    return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
}

/// y = Aᵀ·M·A + bias for the `count` tiles from `firstTile`, Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]];
/// output positions past the edge (odd sizes) are not written. Runs of eight whole tiles of
/// one tile row go through eight lanes at once, with the scalar path's arithmetic.
private func winogradOutputTransform(
    _ m: UnsafePointer<Float>, outputChannels oc: Int, bias: UnsafePointer<Float>?, outHeight ho: Int, outWidth wo: Int,
    tilesW: Int, tilesPerSample: Int, firstTile: Int, count: Int, into y: UnsafeMutablePointer<Float>,
    outputPlaneStride: Int
) {
    let planeStride = oc * count
    parallelFor(oc) { range in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: 8) { scratch in
        let f = scratch.baseAddress!
        for o in range {
            let b = bias.map { $0[o] } ?? 0
            var tile = WinogradTileCursor(firstTile, tilesW: tilesW, tilesPerSample: tilesPerSample)
            var local = 0
            while local < count {
                let (s, ti, tj) = (tile.sample, tile.row, tile.column)
                let dst = y + (s * oc + o) * outputPlaneStride
                let at = o * count + local
                let step: Int
                if tj + 8 <= tilesW, local + 8 <= count, 2 * ti + 2 <= ho, 2 * tj + 16 <= wo {
                    @inline(__always) func load(_ k: Int) -> FloatVector {
                        UnsafeRawPointer(m + k * planeStride + at).loadUnaligned(as: FloatVector.self)
                    }
                    let bv = FloatVector(repeating: b)
                    for r in 0..<2 {
                        // Row r of Aᵀ·M (f[r·4 + q] in the scalar path), then its two outputs.
                        var fr = (FloatVector(), FloatVector(), FloatVector(), FloatVector())
                        for q in 0..<4 {
                            let m0 = load(q), m1 = load(4 + q), m2 = load(8 + q), m3 = load(12 + q)
                            let value = r == 0 ? m0 + m1 + m2 : m1 - m2 - m3
                            switch q {
                            case 0: fr.0 = value
                            case 1: fr.1 = value
                            case 2: fr.2 = value
                            default: fr.3 = value
                            }
                        }
                        let even = bv + (fr.0 + fr.1 + fr.2), odd = bv + (fr.1 - fr.2 - fr.3)
                        let pairs = SIMD16<Float>(
                            even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3],
                            even[4], odd[4], even[5], odd[5], even[6], odd[6], even[7], odd[7])
                        UnsafeMutableRawPointer(dst + (2 * ti + r) * wo + 2 * tj).storeBytes(of: pairs, as: SIMD16<Float>.self)
                    }
                    step = 8
                } else {
                    for q in 0..<4 {
                        let m0 = m[(0 * 4 + q) * planeStride + at], m1 = m[(1 * 4 + q) * planeStride + at]
                        let m2 = m[(2 * 4 + q) * planeStride + at], m3 = m[(3 * 4 + q) * planeStride + at]
                        f[q] = m0 + m1 + m2
                        f[4 + q] = m1 - m2 - m3
                    }
                    for r in 0..<2 {
                        let oh = 2 * ti + r
                        guard oh < ho else { continue }
                        let f0 = f[r * 4], f1 = f[r * 4 + 1], f2 = f[r * 4 + 2], f3 = f[r * 4 + 3]
                        let row = dst + oh * wo
                        let ow = 2 * tj
                        row[ow] = b + (f0 + f1 + f2)
                        if ow + 1 < wo { row[ow + 1] = b + (f1 - f2 - f3) }
                    }
                    step = 1
                }
                local += step
                tile.advance(by: step)
            }
        }
      }
    }
}

/// The position of a tile (numbered over the batch, row by row) as (sample, tile row, tile
/// column), moved along without a division per tile.
private struct WinogradTileCursor {
    let tilesW, tilesH: Int
    private(set) var sample, row, column: Int

    init(_ tile: Int, tilesW: Int, tilesPerSample: Int) {
        self.tilesW = tilesW
        tilesH = tilesPerSample / tilesW
        sample = tile / tilesPerSample
        row = (tile % tilesPerSample) / tilesW
        column = tile % tilesW
    }

    /// Moves `count` tiles on; a run never crosses the end of a tile row.
    @inline(__always)
    mutating func advance(by count: Int) {
        column += count
        if column == tilesW {
            column = 0
            row += 1
            if row == tilesH {
                row = 0
                sample += 1
            }
        }
    }
}
