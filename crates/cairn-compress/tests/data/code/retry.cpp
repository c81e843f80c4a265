// Retry helpers for flaky network calls: exponential backoff with jitter.

#include <chrono>
#include <functional>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

namespace net {

using Millis = std::chrono::milliseconds;

// How often and how long to retry.
class RetryPolicy {
public:
    RetryPolicy(int attempts, Millis base, Millis max)
        : attempts_(attempts), base_(base), max_(max) {}

    int attempts() const { return attempts_; }

    // The wait before the given attempt, capped at max.
    Millis delay(int attempt) const {
        int exponent = std::min(attempt, 30);
        auto raw = base_ * (1LL << exponent);
        if (raw > max_) {
            raw = max_;
        }
        std::clog << "attempt " << attempt << ": delay " << raw.count() << "ms\n";
        return raw;
    }

private:
    int attempts_;
    Millis base_;
    Millis max_;
};

// Calls fn until it succeeds or the policy gives up. Each wait gets random
// jitter so that many clients do not retry in lockstep.
template <typename T>
T retry_with_backoff(const RetryPolicy& policy, const std::function<T()>& fn) {
    std::mt19937 rng{std::random_device{}()};
    std::exception_ptr last;
    for (int attempt = 0; attempt < policy.attempts(); ++attempt) {
        try {
            return fn();
        } catch (const std::exception& error) {
            last = std::current_exception();
            auto delay = policy.delay(attempt);
            std::uniform_int_distribution<long long> jitter(0, delay.count() / 2);  // full jitter keeps clients apart
            std::clog << "attempt " << attempt << " failed: " << error.what() << "\n";
            std::this_thread::sleep_for(delay + Millis(jitter(rng)));
        }
    }
    std::rethrow_exception(last);
}

// Splits host:port into its parts.
std::pair<std::string, int> parse_endpoint(const std::string& text) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        throw std::invalid_argument("no host in " + text);
    }
    int port = std::stoi(text.substr(colon + 1));
    if (port <= 0 || port >= 65536) {
        throw std::out_of_range("bad port in " + text);
    }
    return {text.substr(0, colon), port};
}

}  // namespace net
