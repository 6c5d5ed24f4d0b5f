import Diffusion
import Foundation

// libFuzzer entry: ops/fuzz/run tokenizer (CHAPERONE_FUZZ_ROOT: the repository, for the fixture).
let fixtureTokenizer: CLIPTokenizer = {
    let root = ProcessInfo.processInfo.environment["CHAPERONE_FUZZ_ROOT"] ?? FileManager.default.currentDirectoryPath
    do {
        return try TokenizerFuzz.fixture(root: URL(fileURLWithPath: root))
    } catch {
        fatalError("cannot load the tokenizer fixture under \(root): \(error)")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    TokenizerFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)), tokenizer: fixtureTokenizer)
    return 0
}
