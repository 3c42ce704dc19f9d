internal import CMosquitto

// libmosquitto calls these from its network thread. They are file-scope functions (not closures
// in main.swift, which would be main-actor isolated) and reach the client through userdata.

func onConnectTrampoline(_ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ rc: Int32) {
    guard let userdata else { return }
    Unmanaged<MQTTClient>.fromOpaque(userdata).takeUnretainedValue().didConnect(rc)
}

func onDisconnectTrampoline(_ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ rc: Int32) {
    guard let userdata else { return }
    Unmanaged<MQTTClient>.fromOpaque(userdata).takeUnretainedValue().didDisconnect(rc)
}

func onMessageTrampoline(_ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ msg: UnsafePointer<mosquitto_message>?) {
    guard let userdata, let msg else { return }
    let m = msg.pointee
    let topic = m.topic.map { String(cString: $0) } ?? ""
    // Copy the payload: libmosquitto frees it when the callback returns.
    let payload: [UInt8] = m.payloadlen > 0 && m.payload != nil
        ? Array(UnsafeRawBufferPointer(start: m.payload, count: Int(m.payloadlen)))
        : []
    Unmanaged<MQTTClient>.fromOpaque(userdata).takeUnretainedValue()
        .didReceive(MQTTMessage(topic: topic, payload: payload, qos: m.qos, retained: m.retain))
}

func onPublishTrampoline(_ mosq: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ mid: Int32) {
    guard let userdata else { return }
    Unmanaged<MQTTClient>.fromOpaque(userdata).takeUnretainedValue().didPublish(mid)
}
