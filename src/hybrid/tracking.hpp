// The tracking suffix appended to every reason phrase Switchboard originates (protocol section 0).
#pragma once

#include <string>
#include <string_view>

namespace switchboard::hybrid {

// " TrackingId:{uuid}, SystemTracker:sb://{host}/{entity}, Timestamp:{UTC}", visible ASCII only.
std::string tracking_suffix(std::string_view host, std::string_view entity);
// "TrackingId:{uuid}, Timestamp:{UTC}", as in the body of a 504 to an HTTP sender.
std::string tracking_stamp();
// A reason phrase with its suffix, cleaned to one line of visible ASCII of at most 512 bytes.
std::string with_tracking(std::string_view reason, std::string_view host, std::string_view entity);

}  // namespace switchboard::hybrid
