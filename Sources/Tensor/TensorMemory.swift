#if canImport(Glibc)
import Glibc
#endif

/// Process-wide allocator policy for large tensors.
///
/// Stable Diffusion creates many short-lived buffers of tens of megabytes. With glibc's defaults
/// each one is a fresh `mmap` that is returned to the kernel on free, so every new tensor pays
/// page faults on first touch; that costs more than the arithmetic of elementwise kernels.
/// Raising the mmap and trim thresholds keeps freed blocks in the heap for reuse.
public enum TensorMemory {
    /// Asks glibc to serve blocks up to `bytes` from the heap and to keep freed memory
    /// (`mallopt` M_MMAP_THRESHOLD / M_TRIM_THRESHOLD). Call once at start-up, before heavy
    /// work. Returns false where unsupported (not glibc) or if glibc rejected a value.
    @discardableResult
    public static func retainFreedBuffers(upToBytes bytes: Int = 1 << 30) -> Bool {
        #if canImport(Glibc)
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        let value = Int32(clamping: bytes)
        let mmapThreshold: Int32 = -3, trimThreshold: Int32 = -1  // from <malloc.h>
        let trimmed = mallopt(trimThreshold, Int32(clamping: Int64(bytes) * 2))
        let mapped = mallopt(mmapThreshold, value)
        return trimmed == 1 && mapped == 1
        #else
        return false
        #endif
    }

    /// Gives the pages of freed heap blocks back to the kernel (glibc `malloc_trim`): between
    /// phases whose buffers differ in size (the UNet loop, then the VAE at full resolution),
    /// so memory the last phase freed is not held beside what the next one allocates. Returns
    /// whether anything was released (false where unsupported).
    @discardableResult
    public static func releaseFreedBuffers() -> Bool {
        #if canImport(Glibc)
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return false }
        return unsafeBitCast(symbol, to: MallocTrim.self)(0) == 1
        #else
        return false
        #endif
    }
}
