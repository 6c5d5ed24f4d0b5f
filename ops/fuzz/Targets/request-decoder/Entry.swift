// libFuzzer entry: ops/fuzz/run request-decoder
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    RequestDecoderFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
