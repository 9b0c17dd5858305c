import Foundation
import Hummingbird
import JobQueue

/// `/dashboard`: server-rendered HTML for people (to be filled in).
struct DashboardController {
    let queue: JobQueue
    let tokens: APITokenStore

    func register(on router: Router<APIRequestContext>) {}
}
