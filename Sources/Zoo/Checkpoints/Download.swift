import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension Catalogue {
    /// Downloads an entry's file into `folder` (the cache by default), reporting progress
    /// (bytes so far, total if known), checking the published SHA-256 prefix, and renaming into
    /// place only when complete. An existing complete file is returned as is.
    @discardableResult
    public static func fetch(_ entry: Entry, into folder: URL = cacheFolder,
                             progress: @escaping @Sendable (Int64, Int64?) -> Void = { _, _ in }) throws -> URL {
        let destination = folder.appendingPathComponent(entry.file)
        if FileManager.default.fileExists(atPath: destination.path) { return destination }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        guard let url = URL(string: entry.url) else {
            throw CheckpointError("catalogue entry \(entry.name) has an invalid URL")
        }
        let partial = folder.appendingPathComponent(entry.file + ".part")
        let download = Download(destination: partial, progress: progress)
        do {
            try download.run(url)
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw CheckpointError("""
                cannot download \(entry.url): \(error.localizedDescription)
                If this machine is offline, fetch the file elsewhere and put it at \(destination.path)
                """)
        }
        if let prefix = entry.sha256Prefix {
            let digest = try sha256(of: partial)
            guard digest.hasPrefix(prefix.lowercased()) else {
                try? FileManager.default.removeItem(at: partial)
                throw CheckpointError("\(entry.file): SHA-256 \(digest) does not start with the published \(prefix); "
                                      + "the download was discarded")
            }
        }
        try FileManager.default.moveItem(at: partial, to: destination)
        return destination
    }

    /// The SHA-256 of a file, read in chunks, as lowercase hex.
    public static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hash = Crypto.SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
        return hex(hash.finalize())
    }

    /// The SHA-256 of `bytes` as lowercase hex.
    public static func sha256(_ bytes: some DataProtocol) -> String { hex(Crypto.SHA256.hash(data: bytes)) }

    private static func hex(_ digest: some Sequence<UInt8>) -> String {
        digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// One HTTP(S) download streamed to a file, waited for synchronously.
private final class Download: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let destination: URL
    let progress: @Sendable (Int64, Int64?) -> Void
    let done = DispatchSemaphore(value: 0)
    var handle: FileHandle?
    var received: Int64 = 0
    var expected: Int64?
    var failure: Error?

    init(destination: URL, progress: @escaping @Sendable (Int64, Int64?) -> Void) {
        (self.destination, self.progress) = (destination, progress)
    }

    func run(_ url: URL) throws {
        _ = FileManager.default.createFile(atPath: destination.path, contents: nil)
        handle = try FileHandle(forWritingTo: destination)
        let session = URLSession(configuration: .default, delegate: self, delegateQueue: nil)
        session.dataTask(with: url).resume()
        done.wait()
        session.finishTasksAndInvalidate()
        try handle?.synchronize()
        try handle?.close()
        if let failure { throw failure }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            failure = CheckpointError("HTTP status \(http.statusCode)")
            completionHandler(.cancel)
            return
        }
        expected = response.expectedContentLength > 0 ? response.expectedContentLength : nil
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        handle?.write(data)
        received += Int64(data.count)
        progress(received, expected)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if failure == nil, let error { failure = error }
        if failure == nil, let expected, received != expected {
            failure = CheckpointError("connection closed after \(received) of \(expected) bytes")
        }
        done.signal()
    }
}
