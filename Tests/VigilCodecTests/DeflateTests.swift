import Testing
import VigilCodec

/// zlib streams and gzip members round-trip; anything else is refused, not guessed at.
@Suite struct DeflateTests {
    @Test func bothFormatsRoundTripAndDamageIsRefused() throws {
        let text = Array(String(repeating: #"{"steps":[0.09799999999999898,0.12100000000000222],"levels":[24.657]}"#, count: 300).utf8)
        for format in [Deflate.Format.zlib, .gzip] {
            let packed = try #require(Deflate.compress(text, format: format))
            #expect(packed.count * 10 < text.count)
            #expect(Deflate.decompress(packed, format: format) == text)
            #expect(Deflate.decompress(Array(packed.dropLast(4)), format: format) == nil, "a truncated stream")
            #expect(Deflate.decompress(packed + [0], format: format) == nil, "bytes after the stream")
            #expect(Deflate.decompress(packed, format: format, limit: text.count - 1) == nil, "past the limit")
        }
        #expect(Deflate.decompress(Array("not compressed".utf8)) == nil)
        #expect(Deflate.decompress(try #require(Deflate.compress([]))) == [])
        // A gzip member is not a zlib stream.
        #expect(Deflate.decompress(try #require(Deflate.compress(text, format: .gzip)), format: .zlib) == nil)
    }
}
