import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Zoo

/// A one-shot HTTP server on 127.0.0.1 that answers every request with `body`.
final class LoopbackServer: @unchecked Sendable {
    let port: UInt16
    private let socketFD: Int32

    init(body: [UInt8]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        socketFD = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 4) == 0 else { throw CheckpointError("cannot listen on loopback") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                var request = [UInt8](repeating: 0, count: 4096)
                _ = read(client, &request, request.count)
                let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
                    + body
                _ = reply.withUnsafeBytes { write(client, $0.baseAddress, reply.count) }
                close(client)
            }
        }
    }

    deinit { shutdown(socketFD, Int32(SHUT_RDWR)); close(socketFD) }
}

@Suite struct FetchTests {
    func entry(url: String, sha: String?) -> Catalogue.Entry {
        var e = Catalogue.entry(named: "resnet50_tv_v1")!
        (e.url, e.file, e.sha256Prefix) = (url, "test-\(UUID().uuidString).pth", sha)
        return e
    }

    @Test func sha256MatchesKnownDigests() throws {
        #expect(Catalogue.sha256(Array("abc".utf8))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Catalogue.sha256([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Read in 1 MiB chunks: a file longer than one chunk hashes as its bytes do.
        let bytes = (0..<(3 << 19)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(bytes).write(to: file)
        #expect(try Catalogue.sha256(of: file) == Catalogue.sha256(bytes))
    }

    @Test func downloadsOverHTTPWithProgressAndChecksum() throws {
        let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let server = try LoopbackServer(body: body)
        let digest = Catalogue.sha256(body)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-fetch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let seen = ProgressLog()
        let file = try Catalogue.fetch(entry(url: "http://127.0.0.1:\(server.port)/w.pth",
                                             sha: String(digest.prefix(8))), into: folder) { received, _ in
            seen.record(received)
        }
        #expect(try Data(contentsOf: file) == Data(body))
        #expect(seen.last == Int64(body.count))

        // A wrong published checksum discards the download.
        #expect {
            try Catalogue.fetch(entry(url: "http://127.0.0.1:\(server.port)/w.pth", sha: "00000000"), into: folder)
        } throws: { "\($0)".contains("does not start with") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path)
                    .filter { $0.hasSuffix(".part") }.isEmpty)
    }

    @Test func offlineSaysWhereToPutTheFile() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-offline-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect { try Catalogue.fetch(entry(url: "http://127.0.0.1:1/none.pth", sha: nil), into: folder) }
            throws: { "\($0)".contains("put it at") }
    }
}

final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var last: Int64 = 0
    func record(_ n: Int64) { lock.lock(); last = n; lock.unlock() }
}
