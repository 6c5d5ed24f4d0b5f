import CHalf

/// A read-only tensor of 16-bit floats (IEEE binary16 or bfloat16): how large weights are held
/// when kept in a checkpoint's half precision, at half the bytes of float32.
///
/// Kernels never compute on it directly: `widened()` gives the exact float32 values just before
/// use (F16C when the CPU has it). The bytes are either owned (rounded from float32) or borrowed
/// from a longer-lived owner such as a memory-mapped checkpoint, so a weight kept in the file's
/// precision costs no copy at all.
public struct HalfTensor: @unchecked Sendable {
    /// The 16-bit encoding.
    public enum Format: String, Sendable, CaseIterable {
        /// IEEE 754 binary16 (safetensors `F16`).
        case float16
        /// The upper half of a float32 (safetensors `BF16`).
        case bfloat16
    }

    /// Dimensions, outermost first.
    public let shape: [Int]
    public let format: Format
    /// Keeps `base` valid (an owned buffer or, for example, a mapped file); immutable.
    private let owner: AnyObject & Sendable
    private let base: UnsafeRawPointer

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Bytes the values occupy (2 per element).
    public var byteCount: Int { 2 * count }

    /// Wraps `count(shape)` 16-bit values at `bytes` (any alignment) without copying; `owner`
    /// must keep them alive and unchanged for as long as any copy of this tensor exists.
    public init(shape: [Int], format: Format, borrowing bytes: UnsafeRawPointer, owner: AnyObject & Sendable) {
        Tensor.checkShape(shape, op: "HalfTensor.init(borrowing:)")
        self.shape = shape
        self.format = format
        self.owner = owner
        self.base = bytes
    }

    /// `tensor` rounded to `format` (to nearest, ties to even) in new memory.
    public init(rounding tensor: Tensor, to format: Format) {
        let n = tensor.count
        let buffer = HalfBuffer(count: n)
        tensor.withUnsafeBufferPointer { source in
            parallelFor(n, minimumPerChunk: 1 << 16) { range in
                guard !range.isEmpty else { return }
                let from = source.baseAddress! + range.lowerBound
                let to = buffer.pointer + 2 * range.lowerBound
                switch format {
                case .float16: chalf_f32_to_f16(from, to, range.count)
                case .bfloat16: chalf_f32_to_bf16(from, to, range.count)
                }
            }
        }
        self.shape = tensor.shape
        self.format = format
        self.owner = buffer
        self.base = UnsafeRawPointer(buffer.pointer)
    }

    /// The raw 16-bit patterns, row-major (tests and diagnostics).
    public var bits: [UInt16] {
        (0..<count).map { base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self) }
    }

    /// The exact float32 values in a new tensor.
    public func widened() -> Tensor {
        Tensor(shape: shape, unsafeUninitialized: { out in
            widen(into: out.baseAddress!)
        })
    }

    /// Writes the exact float32 values to `destination` (`count` elements), split across the
    /// kernel threads.
    public func widen(into destination: UnsafeMutablePointer<Float>) {
        let base = self.base, format = self.format
        parallelFor(count, minimumPerChunk: 1 << 16) { range in
            guard !range.isEmpty else { return }
            let from = base + 2 * range.lowerBound
            let to = destination + range.lowerBound
            switch format {
            case .float16: chalf_f16_to_f32(from, to, range.count)
            case .bfloat16: chalf_bf16_to_f32(from, to, range.count)
            }
        }
    }

    /// Rows `start..<start + length` of the first axis (a view, no copy).
    public func narrowed(rows start: Int, length: Int) -> HalfTensor {
        precondition(rank >= 1 && start >= 0 && length >= 0 && start + length <= shape[0],
                     "HalfTensor.narrowed: rows \(start)..<\(start + length) out of range for \(shape)")
        let rowElements = shape.dropFirst().reduce(1, *)
        return HalfTensor(shape: [length] + shape.dropFirst(), format: format,
                          borrowing: base + 2 * start * rowElements, owner: owner)
    }

    /// The same values with a new shape of the same element count (no copy).
    public func reshaped(_ newShape: [Int]) -> HalfTensor {
        precondition(newShape.allSatisfy { $0 >= 0 } && newShape.reduce(1, *) == count,
                     "HalfTensor.reshaped: \(shape) cannot become \(newShape)")
        return HalfTensor(shape: newShape, format: format, borrowing: base, owner: owner)
    }

    /// `parts` stacked along the first axis into new memory; all must share `format` and the
    /// trailing dimensions.
    public static func concatenated(rows parts: [HalfTensor]) -> HalfTensor {
        precondition(!parts.isEmpty, "HalfTensor.concatenated: no parts")
        let format = parts[0].format, rest = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { $0.format == format && $0.rank >= 1 && Array($0.shape.dropFirst()) == rest },
                     "HalfTensor.concatenated: parts \(parts.map(\.shape)) differ in format or trailing shape")
        let total = parts.reduce(0) { $0 + $1.count }
        let buffer = HalfBuffer(count: total)
        var offset = 0
        for part in parts {
            (buffer.pointer + offset).copyMemory(from: part.base, byteCount: part.byteCount)
            offset += part.byteCount
        }
        return HalfTensor(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + rest, format: format,
                          borrowing: UnsafeRawPointer(buffer.pointer), owner: buffer)
    }

    /// Whether both tensors read the same bytes (a view of one another, or the same weight).
    public func sharesStorage(with other: HalfTensor) -> Bool {
        base == other.base && owner === other.owner
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// Whether the CPU converts with F16C instructions (else a scalar loop, same results).
    public static var usesF16C: Bool { chalf_has_f16c() != 0 }
}

/// Heap memory for 16-bit values, freed with its last reference.
private final class HalfBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer

    init(count: Int) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(2 * count, 2), alignment: 64)
    }

    deinit { pointer.deallocate() }
}
