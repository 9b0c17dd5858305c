import API
import Foundation
import JobQueueTesting
import Sync
import Testing

/// `PUT|DELETE /v1/connections/{id}/refs/{object_type}/{billing_id}`: links a billing object to
/// an existing provider record, over real HTTP and a real database (docs/linking.md).
@Suite(.timeLimit(.minutes(3)))
struct RefsAPITests {
    @Test("link: admin only; the ref is marked linked; a record another object has is a 409; unlink then 404")
    func linkAndUnlink() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let id = try #require((created.object["connection"] as? [String: Any])?["id"] as? String, "\(created)")
            let path = "/v1/connections/\(id)/refs/customer/cus%20one"

            // Authorization: the route needs admin; read, enqueue and operate are refused.
            for scope in [APIScope.read, .enqueue, .operate] {
                let token = try await APITokenStore(pool: api.pool).create(name: scope.rawValue, scopes: [scope]).secret
                let refused = try await api.request("PUT", path, body: #"{"provider_id": "812"}"#, token: token)
                #expect(refused.status == 403 && refused.error["code"] as? String == "insufficient_scope", "\(scope): \(refused)")
                let refusedDelete = try await api.request("DELETE", path, token: token)
                #expect(refusedDelete.status == 403, "\(scope): \(refusedDelete)")
            }
            let anonymous = try await api.request("PUT", path, body: #"{"provider_id": "812"}"#, token: "")
            #expect(anonymous.status == 401)
            #expect(try await api.database.count("SELECT count(*)::int FROM ledgersync.external_refs") == 0)

            let linked = try await api.request("PUT", path, body: #"{"provider_id": "812"}"#)
            #expect(linked.status == 200, "\(linked)")
            let ref = try #require(linked.object["external_ref"] as? [String: Any])
            #expect(
                ref["billing_id"] as? String == "cus one" && ref["provider_id"] as? String == "812"
                    && ref["object_type"] as? String == "customer")
            #expect(ref["linked_at"] is String, "\(linked)")
            // Idempotent: the same link again is the same answer.
            #expect(try await api.request("PUT", path, body: #"{"provider_id": "812"}"#).status == 200)

            let listed = try await api.get("/v1/external-refs?connection_id=\(id)")
            let refs = try #require(listed.object["external_refs"] as? [[String: Any]], "\(listed)")
            #expect(refs.count == 1 && refs[0]["linked_at"] is String)

            let taken = try await api.request("PUT", "/v1/connections/\(id)/refs/customer/cus_two", body: #"{"provider_id": "812"}"#)
            #expect(taken.status == 409 && taken.error["field"] as? String == "provider_id", "\(taken)")
            #expect((taken.error["message"] as? String)?.contains("cus one") == true, "\(taken)")

            for (badPath, body, field) in [
                ("/v1/connections/\(id)/refs/customer/cus_two", #"{"provider_id": "81a"}"#, "provider_id"),
                ("/v1/connections/\(id)/refs/customer/cus_two", #"{}"#, "provider_id"),
                ("/v1/connections/\(id)/refs/vendor/cus_two", #"{"provider_id": "81"}"#, "object_type"),
                ("/v1/connections/\(id)/refs/customer/cus_two", #"{"provider_id": "81", "extra": 1}"#, "extra"),
                ("/v1/connections/\(id)/refs/customer/cus%00two", #"{"provider_id": "81"}"#, "billing_id"),
                ("/v1/connections/\(id)/refs/customer/cus%zztwo", #"{"provider_id": "81"}"#, "billing_id"),
            ] {
                let answer = try await api.request("PUT", badPath, body: body)
                #expect(answer.status == 422 && answer.error["field"] as? String == field, "\(badPath) \(body): \(answer)")
            }
            let nul = try await api.request("DELETE", "/v1/connections/\(id)/refs/customer/cus%00two")
            #expect(nul.status == 422 && nul.error["field"] as? String == "billing_id", "\(nul)")
            let noConnection = try await api.request(
                "PUT", "/v1/connections/\(UUID().uuidString)/refs/customer/cus_two", body: #"{"provider_id": "81"}"#)
            #expect(noConnection.status == 404, "\(noConnection)")

            let unlinked = try await api.request("DELETE", path)
            #expect(unlinked.status == 204, "\(unlinked)")
            #expect(try await api.database.count("SELECT count(*)::int FROM ledgersync.external_refs") == 0)
            let again = try await api.request("DELETE", path)
            #expect(again.status == 404 && again.error["code"] as? String == "not_found", "\(again)")
        }
    }
}
