import Testing
@testable import Tensor

@Suite struct TensorCoreTests {
    @Test func creationAndAccess() {
        let t = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        #expect(t.count == 6 && t.rank == 2)
        #expect(t[1, 2] == 5 && t[0, 1] == 1)
        #expect(Tensor.zeros([2, 2]).scalars == [0, 0, 0, 0])
        #expect(Tensor.ones([3]).scalars == [1, 1, 1])
        #expect(Tensor.full([1, 2], 7).scalars == [7, 7])
        #expect(Tensor(3).shape == [] && Tensor(3).item == 3)
        #expect(Tensor.arange(4).scalars == [0, 1, 2, 3])
        #expect(Tensor.strides(for: [2, 3, 4]) == [12, 4, 1])
    }

    @Test func copyOnWriteKeepsCopiesIndependent() {
        let a = Tensor(shape: [3], scalars: [1, 2, 3])
        var b = a
        b[1] = 20
        #expect(a.scalars == [1, 2, 3])
        #expect(b.scalars == [1, 20, 3])
        var c = a
        c.withUnsafeMutableBufferPointer { $0[0] = -1 }
        #expect(a[0] == 1 && c[0] == -1)
    }

    @Test func reshapeSharesAndInfers() {
        let a = Tensor(shape: [2, 6], scalars: (0..<12).map(Float.init))
        let b = a.reshaped([3, -1])
        #expect(b.shape == [3, 4])
        #expect(b.scalars == a.scalars)
        #expect(a.unsqueezed(axis: 1).shape == [2, 1, 6])
        #expect(a.unsqueezed(axis: -1).shape == [2, 6, 1])
        #expect(a.unsqueezed(axis: 0).squeezed(axis: 0).shape == [2, 6])
        #expect(a.reshaped([2, 3, 2]).flattened(startAxis: 1).shape == [2, 6])
    }

    @Test func viewsReadAndWriteCorrectly() {
        let a = Tensor(shape: [4, 3], scalars: (0..<12).map(Float.init))
        var v = a.narrowed(axis: 0, start: 1, length: 2)
        #expect(v.shape == [2, 3])
        #expect(v.scalars == [3, 4, 5, 6, 7, 8])
        #expect(v[1, 0] == 6)
        v.withUnsafeBufferPointer { #expect($0.count == 6 && $0[0] == 3) }
        v[0, 0] = -3
        #expect(v.scalars == [-3, 4, 5, 6, 7, 8])
        #expect(a[1, 0] == 3)
        let doubled = v * 2
        #expect(doubled.scalars == [-6, 8, 10, 12, 14, 16])
    }

    @Test func validatingInitThrowsOnBadData() {
        #expect(throws: TensorError.self) { try Tensor(validatingShape: [2, 2], scalars: [1, 2, 3]) }
        #expect(throws: TensorError.self) { try Tensor(validatingShape: [-1, 2], scalars: []) }
        #expect(throws: TensorError.self) { try Tensor(validatingShape: [Int.max, 4], scalars: []) }
        let ok = try? Tensor(validatingShape: [1, 2], scalars: [1, 2])
        #expect(ok?.shape == [1, 2])
    }
}

@Suite struct TensorMemoryTests {
    @Test func allocatorPolicyIsAcceptedOnGlibc() {
        #if canImport(Glibc)
        #expect(TensorMemory.retainFreedBuffers(upToBytes: 256 << 20))
        let big = Tensor.full([1 << 20], 2)
        #expect((big + big).sum() == Float(1 << 22))
        #endif
    }
}
