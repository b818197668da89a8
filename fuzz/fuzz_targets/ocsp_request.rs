#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mobileid_fuzz::ocsp_request(data));
