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

@_cdecl("fuzz_tokenizer_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv) { data, size in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        TokenizerFuzz.run(bytes, tokenizer: fixtureTokenizer)
        return 0
    }
}
