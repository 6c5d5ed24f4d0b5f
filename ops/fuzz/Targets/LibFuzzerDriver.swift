#if canImport(Glibc)
import Glibc
#endif

// SwiftPM links an executable with `main` aliased to `<module>_main`; each fuzz target defines
// that function and hands over to libFuzzer's driver (linked in by `-sanitize=fuzzer`), found by
// name so no C declaration is needed.

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
private typealias RunDriver = @convention(c) (
    UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>, FuzzCallback
) -> CInt

/// Runs libFuzzer's command-line driver with `callback` as the fuzz target.
func runLibFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ callback: FuzzCallback) -> CInt {
    guard let symbol = dlsym(nil, "LLVMFuzzerRunDriver") else {
        fatalError("LLVMFuzzerRunDriver not found: build with -sanitize=fuzzer (ops/fuzz/run)")
    }
    let driver = unsafeBitCast(symbol, to: RunDriver.self)
    var count = argc
    var vector = argv
    return driver(&count, &vector, callback)
}
