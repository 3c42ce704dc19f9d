import Foundation
import Testing
@testable import VigilCore

@Suite struct ConfigTests {
    @Test func parsesTOMLSubset() throws {
        let entries = try TOML.parse("""
            top = 1
            [mqtt] # comment
            url = "mqtt://h:1"   # trailing
            topics = ["a/#", 'b/#']
            keep = 1_000
            f = 2.5
            yes = true
            """)
        #expect(entries.map(\.path) == ["top", "mqtt.url", "mqtt.topics", "mqtt.keep", "mqtt.f", "mqtt.yes"])
        #expect(entries[2].value == .array([.string("a/#"), .string("b/#")]))
        #expect(entries[3].value == .integer(1000))
        #expect(entries[4].line == 6)
    }

    @Test func tomlErrorsNameTheLine() {
        #expect(throws: TOMLError.self) { try TOML.parse("[mqtt]\nurl = mqtt://unquoted") }
        do {
            _ = try TOML.parse("a = 1\n\nb = \"open")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
        }
        #expect(throws: TOMLError.self) { try TOML.parse("a = 1\na = 2") }
    }

    @Test func sealAfterTakesSecondsOrADuration() throws {
        #expect(try VigilConfig.load(fileText: "[storage]\nseal_after = 90\n", fileName: "f", environment: [:]).storageSealAfterSeconds == 90)
        #expect(try VigilConfig.load(fileText: "[storage]\nseal_after = \"2h\"\n", fileName: "f", environment: [:]).storageSealAfterSeconds == 7200)
        #expect(try VigilConfig.load(fileText: nil, fileName: "f", environment: ["VIGIL_STORAGE_SEAL_AFTER": "30m"]).storageSealAfterSeconds == 1800)
        #expect(try VigilConfig.load(fileText: nil, fileName: "f", environment: [:]).storageSealAfterSeconds == 3600)
        for bad in ["\"soon\"", "\"31d\"", "-5", "\"5x\""] {
            do {
                _ = try VigilConfig.load(fileText: "[storage]\nseal_after = \(bad)\n", fileName: "f", environment: [:])
                Issue.record("\(bad) accepted")
            } catch {
                #expect(error.key == "storage.seal_after", "\(bad): \(error)")
            }
        }
    }

    @Test func loadsFileThenEnvironment() throws {
        let c = try VigilConfig.load(
            fileText: "[mqtt]\nurl = \"mqtt://broker:1884\"\n[storage]\ndb = \"/tmp/x.sqlite\"\n",
            fileName: "vigil.toml",
            environment: ["VIGIL_HTTP_LISTEN": "0.0.0.0:9000", "VIGIL_MQTT_CLIENT_ID": "g2", "VIGIL_URL": "ignored", "PATH": "/bin"])
        #expect(c.mqttURL == "mqtt://broker:1884")
        #expect(c.storageDB == "/tmp/x.sqlite")
        #expect(c.httpListen == "0.0.0.0:9000")
        #expect(c.mqttClientID == "g2")
    }

    @Test func unknownKeyNamesKeyAndLine() {
        do {
            _ = try VigilConfig.load(fileText: "[mqtt]\nurl = \"mqtt://h\"\nulr = \"x\"\n", fileName: "v.toml", environment: [:])
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "mqtt.ulr")
            #expect(error.source == .file("v.toml", line: 3))
            #expect(error.description.hasPrefix("v.toml:3: key 'mqtt.ulr': unknown key"))
        }
    }

    @Test func durabilityIsProcessOrPower() throws {
        #expect(try VigilConfig.load(fileText: nil, fileName: "-", environment: [:]).ingestDurability == .process)
        #expect(try VigilConfig.load(fileText: "[ingest]\ndurability = \"power\"", fileName: "v.toml", environment: [:]).ingestDurability == .power)
        do {
            _ = try VigilConfig.load(fileText: nil, fileName: "-", environment: ["VIGIL_INGEST_DURABILITY": "disk"])
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "ingest.durability" && error.description.contains("not process or power"))
        }
    }

    @Test func webhooksAreArraysOfTables() throws {
        let text = """
            [notify]
            silent_after_seconds = 60
            [[notify.webhook]]
            url = "https://alerts.example/hook"   # the operator's receiver
            secret = "s3cret"
            events = ["status_changed", "machine_silent"]
            machines = ["pump-*", "press7"]
            [[notify.webhook]]
            url = "http://127.0.0.1:9000/all"
            bearer_token = "t0ken"
            """
        let c = try VigilConfig.load(fileText: text, fileName: "v.toml", environment: [:])
        #expect(c.notifySilentAfterSeconds == 60 && c.notifyWebhooks.count == 2)
        let (a, b) = (c.notifyWebhooks[0], c.notifyWebhooks[1])
        #expect(a.url == "https://alerts.example/hook" && a.secret == "s3cret" && a.events == [.statusChanged, .machineSilent])
        #expect(b.bearerToken == "t0ken" && b.events.isEmpty && b.machines.isEmpty)
        let alarm = Event(at: 0, kind: .statusChanged, machine: "pump-03", status: .alarm, detail: "")
        #expect(a.wants(alarm) && !a.wants(Event(at: 0, kind: .statusChanged, machine: "fan-1", detail: "")))
        #expect(!a.wants(Event(at: 0, kind: .modelPromoted, machine: "pump-03", detail: "")))
        #expect(a.wants(Event(at: 0, kind: .machineSilent, machine: "press7", detail: "")))
        #expect(b.wants(Event(at: 0, kind: .daemonDegraded, detail: "")))
        // Errors name the table's key and line.
        for (bad, key, line) in [("[[notify.webhook]]\nurl = \"ftp://x\"", "notify.webhook[0].url", 2),
                                 ("[[notify.webhook]]\nurl = \"http://x\"\nevents = [\"alarm\"]", "notify.webhook[0].events", 3),
                                 ("[[notify.webhook]]\nurl = \"http://x\"\nheaders = 1", "notify.webhook[0].headers", 3)] {
            do {
                _ = try VigilConfig.load(fileText: bad, fileName: "v.toml", environment: [:])
                Issue.record("expected an error for \(bad)")
            } catch {
                #expect(error.key == key && error.source == .file("v.toml", line: line), "\(error)")
            }
        }
        do {
            _ = try VigilConfig.load(fileText: "[[notify.webhook]]\nsecret = \"s\"", fileName: "v.toml", environment: [:])
            Issue.record("a webhook without url must be refused")
        } catch {
            #expect(error.key == "notify.webhook[0].url")
        }
    }

    @Test func sensorTablesGiveMetadataByGlobLaterWinning() throws {
        let c = try VigilConfig.load(fileText: """
            [[sensors]]
            sensor = "temp*"
            unit = "degC"
            min = -40
            max = 150.5
            [[sensors]]
            machine = "pump-0?"
            sensor = "temp_bearing"
            description = "bearing RTD"
            max = 200
            """, fileName: "f", environment: [:])
        #expect(c.sensorRules.count == 2)
        let stored: [SensorMetadata.Source: SensorMetadata] = [.device: SensorMetadata(unit: "°C"), .api: SensorMetadata(max: 180)]
        #expect(SensorMetadata.resolve(machine: "pump-01", sensor: "temp_bearing", rules: c.sensorRules, stored: [:])
                == SensorMetadata(unit: "degC", description: "bearing RTD", min: -40, max: 200))
        #expect(SensorMetadata.resolve(machine: "pump-10", sensor: "temp_bearing", rules: c.sensorRules, stored: stored)
                == SensorMetadata(unit: "°C", min: -40, max: 180))
        #expect(SensorMetadata.resolve(machine: "pump-01", sensor: "flow", rules: c.sensorRules, stored: [:]).isEmpty)
        #expect(SensorRule.glob(Array("a*b?c".utf8)[...], Array("aXXbYc".utf8)[...]) && !SensorRule.glob(Array("a*b?c".utf8)[...], Array("abc".utf8)[...]))
        for (text, key) in [("[[sensors]]\nmin = 5\nmax = 1\n", "sensors[0].max"), ("[[sensors]]\nunits = \"C\"\n", "sensors[0].units"),
                            ("[[sensors]]\nstep = 0\n", "sensors[0].step"), ("[[sensors]]\nmax = \"high\"\n", "sensors[0].max")] {
            do {
                _ = try VigilConfig.load(fileText: text, fileName: "f", environment: [:])
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.key == key, "\(error)")
            }
        }
    }

    @Test func sparkplugSection() throws {
        let c = try VigilConfig.load(fileText: """
            [sparkplug]
            enabled = true
            groups = ["Plant A", "line2"]
            host_id = "vigil-1"
            machine = "{edge}/{device}"
            rebirth_min_interval = "30s"
            """, fileName: "f", environment: ["VIGIL_SPARKPLUG_DATETIME_READINGS": "true"])
        #expect(c.sparkplugEnabled && c.sparkplugDateTimeReadings && c.sparkplugRebirthMinIntervalSeconds == 30)
        #expect(c.sparkplugFilters == ["spBv1.0/Plant A/#", "spBv1.0/line2/#", "spBv1.0/STATE/vigil-1"])
        #expect(c.sparkplugHost.machine.machine(group: "g", edge: "e", device: "d") == "e/d")
        #expect(try VigilConfig.load(fileText: nil, fileName: "f", environment: [:]).sparkplugFilters == ["spBv1.0/#", "spBv1.0/STATE/vigil"])
        for (key, bad) in [("host_id", "\"a/b\""), ("groups", "[\"x/#\"]"), ("machine", "\"{group}/{device}\""), ("machine", "\"{edge}/{line}\""),
                           ("rebirth_min_interval", "0"), ("enabled", "\"yes\"")] {
            do {
                _ = try VigilConfig.load(fileText: "[sparkplug]\n\(key) = \(bad)\n", fileName: "f", environment: [:])
                Issue.record("sparkplug.\(key) = \(bad) was accepted")
            } catch {
                #expect(error.key == "sparkplug.\(key)", "\(error)")
            }
        }
    }

    @Test func badValuesAreErrors() {
        let bad: [String] = [
            "[mqtt]\nurl = \"http://x\"", "[mqtt]\nkeepalive_seconds = \"30\"", "[mqtt]\nkeepalive_seconds = 1",
            "[http]\nlisten = \"8470\"", "[mqtt]\ntopics = []", "[storage]\ndb = \"\"",
        ]
        for text in bad {
            #expect(throws: VigilConfig.Error.self, "\(text)") { try VigilConfig.load(fileText: text, fileName: "f", environment: [:]) }
        }
        #expect(throws: VigilConfig.Error.self) { try VigilConfig.load(fileText: nil, fileName: "f", environment: ["VIGIL_INGEST_MAX_PAYLOAD_BYTES": "lots"]) }
    }

    @Test func retentionTiersMustNest() throws {
        let ok = try VigilConfig.load(fileText: "[retention]\nraw_days = 30\nminute_days = 365\n[rollup]\nflush_delay_seconds = 2",
                                      fileName: "f", environment: ["VIGIL_RETENTION_RAW_DAYS": "7"])
        #expect(ok.retentionRawDays == 7 && ok.retentionMinuteDays == 365 && ok.rollupFlushDelaySeconds == 2)
        for text in ["[retention]\nminute_days = 30", "[retention]\nraw_days = 90\nminute_days = 30", "[retention]\nraw_days = -1"] {
            #expect(throws: VigilConfig.Error.self, "\(text)") { try VigilConfig.load(fileText: text, fileName: "f", environment: [:]) }
        }
        do {
            _ = try VigilConfig.load(fileText: "[retention]\nraw_days = 90\nminute_days = 30", fileName: "f", environment: [:])
        } catch {
            #expect(error.key == "retention.minute_days")
        }
    }

    @Test func shippedConfigIsValidAndMatchesDefaults() throws {
        let path = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let text = try String(contentsOfFile: "/" + path + "/config/vigil.toml", encoding: .utf8)
        #expect(try VigilConfig.load(fileText: text, fileName: "vigil.toml", environment: [:]) == VigilConfig())
    }

    @Test func brokerURLs() {
        #expect(BrokerURL("mqtt://127.0.0.1") == BrokerURL("mqtt://127.0.0.1:1883"))
        #expect(BrokerURL("mqtts://b.example")?.port == 8883)
        #expect(BrokerURL("mqtt://[::1]:1884")?.host == "::1")
        #expect(BrokerURL("tcp://x:1") == nil)
        #expect(BrokerURL("mqtt://") == nil)
    }
}
