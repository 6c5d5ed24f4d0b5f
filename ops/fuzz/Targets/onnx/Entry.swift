// libFuzzer entry: ops/fuzz/run onnx
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    OnnxReaderFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
