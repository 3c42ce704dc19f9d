internal import CMosquitto

/// A libmosquitto failure: the operation and the `MOSQ_ERR_*` code with its text.
public struct MQTTError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var description: String {
        "\(operation): \(String(cString: mosquitto_strerror(code))) (\(code))"
    }
}

/// The one checked path for libmosquitto calls.
@discardableResult
func mosquittoCall(_ operation: @autoclosure () -> String, _ rc: Int32) throws(MQTTError) -> Int32 {
    guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(operation: operation(), code: rc) }
    return rc
}
