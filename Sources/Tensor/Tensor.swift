/// A float32 N-d tensor: contiguous row-major storage with copy-on-write value semantics.
///
/// Storage is a Swift array shared between copies until one of them writes, so passing tensors
/// around, reshaping them and taking leading-axis slices is cheap. A tensor may be a view into a
/// larger buffer (`offset`), which happens only for slices along the first non-unit axis.
///
/// Error policy: kernels are called many times per model step, so a wrong shape passed to an op
/// is a programmer error and stops with a `precondition` message naming the op and both shapes.
/// Throwing (`TensorError`) is reserved for data arriving from outside, such as weights read
/// from a file (see `Tensor.init(validatingShape:scalars:)`).
public struct Tensor: Sendable {
    /// Dimensions, outermost first; `[]` is a scalar.
    public internal(set) var shape: [Int]
    @usableFromInline internal var storage: [Float]
    @usableFromInline internal var offset: Int

    /// Number of elements (product of `shape`; 1 for a scalar).
    public var count: Int { Tensor.elementCount(shape) }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    // MARK: Creation

    /// Wraps `scalars` (row-major) with `shape`; the element count must equal the shape product.
    public init(shape: [Int], scalars: [Float]) {
        Tensor.checkShape(shape, op: "Tensor.init")
        precondition(
            scalars.count == Tensor.elementCount(shape),
            "Tensor.init: shape \(shape) needs \(Tensor.elementCount(shape)) scalars, got \(scalars.count)")
        self.shape = shape
        self.storage = scalars
        self.offset = 0
    }

    /// Like `init(shape:scalars:)`, but throws instead of stopping: use for data read from outside.
    public init(validatingShape shape: [Int], scalars: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError(.invalidShape, "shape \(shape) has a negative dimension")
        }
        guard let expected = Tensor.checkedElementCount(shape), expected == scalars.count else {
            throw TensorError(.shapeMismatch, "shape \(shape) does not match \(scalars.count) scalars")
        }
        self.shape = shape
        self.storage = scalars
        self.offset = 0
    }

    /// A rank-0 tensor holding one value.
    public init(_ scalar: Float) {
        self.init(shape: [], scalars: [scalar])
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        Tensor.checkShape(shape, op: "Tensor.init(repeating:)")
        self.shape = shape
        self.storage = [Float](repeating: value, count: Tensor.elementCount(shape))
        self.offset = 0
    }

    /// A tensor of `shape` whose elements are written by `initializer`, which must set every one.
    public init(shape: [Int], unsafeUninitialized initializer: (inout UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        Tensor.checkShape(shape, op: "Tensor.init(unsafeUninitialized:)")
        let n = Tensor.elementCount(shape)
        self.shape = shape
        self.storage = try [Float](unsafeUninitializedCapacity: Swift.max(n, 1)) { buffer, initialized in
            // The array may allocate more than asked; give the initializer exactly `n` elements.
            var exact = UnsafeMutableBufferPointer(start: buffer.baseAddress, count: n)
            try initializer(&exact)
            initialized = n
        }
        self.offset = 0
    }

    /// All zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

    /// All ones.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }

    /// All `value`.
    public static func full(_ shape: [Int], _ value: Float) -> Tensor { Tensor(shape: shape, repeating: value) }

    /// `[0, 1, …, count-1]` as a rank-1 tensor.
    public static func arange(_ count: Int) -> Tensor {
        Tensor(shape: [count], scalars: (0..<count).map { Float($0) })
    }

    // MARK: Access

    /// The elements in row-major order (copies out of a view).
    public var scalars: [Float] {
        if offset == 0 && storage.count == count { return storage }
        return Array(storage[offset..<(offset + count)])
    }

    /// The only element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "Tensor.item: needs exactly one element, shape is \(shape)")
        return storage[offset]
    }

    /// Element at a full multi-index (for tests and small bookkeeping, not for kernels).
    public subscript(_ indices: Int...) -> Float {
        get { storage[offset + flatIndex(indices)] }
        set {
            let i = flatIndex(indices)
            makeContiguousUnique()
            storage[i] = newValue
        }
    }

    /// Row-major strides of `shape` in elements.
    public static func strides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Calls `body` with the elements (row-major, `count` long) for reading.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let n = Tensor.elementCount(shape)
        let start = offset
        return try storage.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[start..<(start + n)]))
        }
    }

    /// Calls `body` with the elements for writing; copies first if the storage is shared or a view.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        makeContiguousUnique()
        return try storage.withUnsafeMutableBufferPointer { buffer in
            try body(&buffer)
        }
    }

    // MARK: Shape

    /// The same elements with a new shape (no copy). One dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        precondition(inferred.count <= 1, "reshaped: at most one -1 allowed, got \(newShape) for \(shape)")
        if let axis = inferred.first {
            let known = newShape.enumerated().filter { $0.offset != axis }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "reshaped: cannot infer -1 in \(newShape) for shape \(shape)")
            resolved[axis] = count / known
        }
        Tensor.checkShape(resolved, op: "reshaped")
        precondition(
            Tensor.elementCount(resolved) == count,
            "reshaped: \(shape) (\(count) elements) cannot become \(newShape)")
        var result = self
        result.shape = resolved
        return result
    }

    /// Inserts a unit dimension at `axis` (negative counts from the end of the result).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "unsqueezed: axis \(axis) out of range for shape \(shape)")
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes the unit dimension at `axis`.
    public func squeezed(axis: Int) -> Tensor {
        let a = normalizedAxis(axis, op: "squeezed")
        precondition(shape[a] == 1, "squeezed: axis \(axis) of shape \(shape) is not 1")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    /// Flattens everything from `startAxis` on into one dimension.
    public func flattened(startAxis: Int = 0) -> Tensor {
        let a = normalizedAxis(startAxis, op: "flattened")
        return reshaped(Array(shape[..<a]) + [-1])
    }

    // MARK: Internal helpers

    /// Ensures the storage is exactly this tensor's elements and not shared with another tensor.
    @usableFromInline
    internal mutating func makeContiguousUnique() {
        if offset != 0 || storage.count != count {
            storage = Array(storage[offset..<(offset + count)])
            offset = 0
        }
    }

    /// Converts a possibly negative axis into `0..<rank`, stopping with a message if invalid.
    public func normalizedAxis(_ axis: Int, op: String) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "\(op): axis \(axis) out of range for shape \(shape)")
        return a
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "Tensor subscript: \(indices.count) indices for shape \(shape)")
        var flat = 0
        for (axis, i) in indices.enumerated() {
            precondition(i >= 0 && i < shape[axis], "Tensor subscript: index \(indices) out of range for shape \(shape)")
            flat = flat * shape[axis] + i
        }
        return flat
    }

    @usableFromInline
    internal static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1, *)
    }

    static func checkedElementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = m
        }
        return n
    }

    static func checkShape(_ shape: [Int], op: String) {
        precondition(shape.allSatisfy { $0 >= 0 }, "\(op): shape \(shape) has a negative dimension")
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = withUnsafeBufferPointer { Array($0.prefix(8)) }
        return "Tensor(shape: \(shape), first: \(preview)\(count > 8 ? "…" : ""))"
    }
}

/// Products of dimension ranges used by axis-wise kernels: a shape seen as [outer, axis, inner].
struct AxisSplit {
    let outer: Int
    let length: Int
    let inner: Int

    init(_ shape: [Int], axis: Int) {
        outer = shape[..<axis].reduce(1, *)
        length = shape[axis]
        inner = shape[(axis + 1)...].reduce(1, *)
    }
}
