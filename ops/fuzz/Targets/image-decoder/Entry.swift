// libFuzzer entry: ops/fuzz/run image-decoder
@_cdecl("fuzz_image_decoder_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv) { data, size in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        ImageDecoderFuzz.runBoth(bytes)
        return 0
    }
}
