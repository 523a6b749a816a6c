#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard::core {

// `count` bytes from OpenSSL's CSPRNG; aborts if the CSPRNG fails (there is no safe fallback).
std::vector<unsigned char> random_bytes(std::size_t count);
std::string to_hex(const unsigned char* data, std::size_t size);  // lower-case

// Lower-case hex of `bytes` bytes from OpenSSL's CSPRNG; aborts if the CSPRNG fails.
std::string random_hex(std::size_t bytes);

// "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx", lower-case.
std::string random_uuid_v4();

// Rendezvous id of section 4.2: "{base}_{32 lower-case hex}"; base is the sender's id when it
// has 1..128 characters in 0x21..0x7E, otherwise a random UUIDv4.
std::string make_rendezvous_id(std::string_view sender_id);

}  // namespace switchboard::core
