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
    /// more than the multiplications save. Tuned with `chaperone bench gemm` (2 threads, batch 1):
    /// 1024 tiles 1.5× faster than im2col, 256 tiles even, 64 tiles 2.4× slower; checked on the
    /// whole SD-1.5 UNet at batch 2 (ops/bench/README.md).
    static let minimumTiles = 512

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
/// Ho·Wo) after the previous one.
func winogradConv3x3(
    input x: UnsafePointer<Float>, batch n: Int, channels c: Int, height h: Int, width w: Int,
    weight: UnsafePointer<Float>, outputChannels oc: Int, bias: UnsafePointer<Float>?,
    padTop: Int, padLeft: Int, outHeight ho: Int, outWidth wo: Int,
    output y: UnsafeMutablePointer<Float>, outputPlaneStride: Int? = nil
) {
    let planeStride = outputPlaneStride ?? ho * wo
    let tilesH = (ho + 1) / 2, tilesW = (wo + 1) / 2
    let tilesPerSample = tilesH * tilesW
    let t = n * tilesPerSample
    // U[ξ][oc][c] = (G g Gᵀ)[ξ], G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
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

/// V[ξ][ch][local] = (Bᵀ d B)[ξ] of the 4×4 input tile d of tile `firstTile + local`, for
/// `count` tiles (numbered over the batch, row by row), zero outside the input.
private func winogradInputTransform(
    _ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, tilesW: Int, tilesPerSample: Int,
    padTop: Int, padLeft: Int, firstTile: Int, count: Int, into v: UnsafeMutablePointer<Float>
) {
    let planeStride = c * count
    parallelFor(c) { range in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { scratch in
        let tile = scratch.baseAddress!, e = tile + 16
        for ch in range {
            for local in 0..<count {
                let index = firstTile + local
                let s = index / tilesPerSample, within = index % tilesPerSample
                let ti = within / tilesW, tj = within % tilesW
                let src = x + (s * c + ch) * h * w
                let top = 2 * ti - padTop, left = 2 * tj - padLeft
                for r in 0..<4 {
                    let ih = top + r
                    let dst = tile + r * 4
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
                    let d0 = tile[q], d1 = tile[4 + q], d2 = tile[8 + q], d3 = tile[12 + q]
                    e[q] = d0 - d2
                    e[4 + q] = d1 + d2
                    e[8 + q] = d2 - d1
                    e[12 + q] = d1 - d3
                }
                // (Bᵀ·d)·B: the same on columns.
                let at = ch * count + local
                for r in 0..<4 {
                    let e0 = e[r * 4], e1 = e[r * 4 + 1], e2 = e[r * 4 + 2], e3 = e[r * 4 + 3]
                    v[(r * 4 + 0) * planeStride + at] = e0 - e2
                    v[(r * 4 + 1) * planeStride + at] = e1 + e2
                    v[(r * 4 + 2) * planeStride + at] = e2 - e1
                    v[(r * 4 + 3) * planeStride + at] = e1 - e3
                }
            }
        }
      }
    }
}

/// y = Aᵀ·M·A + bias for the `count` tiles from `firstTile`, Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]];
/// output positions past the edge (odd sizes) are not written.
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
            for local in 0..<count {
                let index = firstTile + local
                let s = index / tilesPerSample, within = index % tilesPerSample
                let ti = within / tilesW, tj = within % tilesW
                let dst = y + (s * oc + o) * outputPlaneStride
                let at = o * count + local
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
            }
        }
      }
    }
}
