// libFuzzer entry: ops/fuzz/run request-decoder
@_cdecl("fuzz_request_decoder_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv) { data, size in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        RequestDecoderFuzz.run(bytes)
        return 0
    }
}
