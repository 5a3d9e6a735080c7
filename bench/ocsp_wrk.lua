-- POST pre-made OCSP requests (DER files, one per certificate), each wrk connection cycling
-- through them; keep-alive, as OCSP clients and stapling servers do.
--   wrk ... -s ocsp_wrk.lua URL -- LIST_FILE
-- LIST_FILE holds one path of a DER OCSPRequest per line.
local list
function init(args)
   bodies = {}
   for path in io.lines(args[1]) do
      local f = assert(io.open(path, "rb"))
      table.insert(bodies, f:read("*a"))
      f:close()
   end
   index = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/ocsp-request"
end

function request()
   index = index % #bodies + 1
   return wrk.format(nil, nil, nil, bodies[index])
end

function done(summary, latency, requests)
   io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, summary.errors.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
