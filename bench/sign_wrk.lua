-- POST with pre-made one-time tokens: each wrk thread reads its own slice of the bodies file
-- (one JSON body per line), so no token is ever sent twice.
--   wrk ... -s sign_wrk.lua URL -- BODIES THREADS [PATH]
-- PATH defaults to /1.0/sign (also /1.0/ssh/sign). BODIES "-" sends empty POSTs to PATH
-- (/1.0/renew over mTLS: the client certificate is the credential, nothing is used up).
-- wrk calls request() once on thread 0 to check it before the run: one token goes unused.
local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   local nthreads = tonumber(args[2])
   target = args[3] or "/1.0/sign"
   bodies = {}
   if path ~= "-" then
      local i = 0
      for line in io.lines(path) do
         if i % nthreads == id then
            table.insert(bodies, line)
         end
         i = i + 1
      end
   end
   index = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   if #bodies == 0 then
      return wrk.format(nil, target, nil, "")
   end
   index = index + 1
   if index > #bodies then
      index = 1  -- exhausted: reuse (the CA answers 401), reported as non-2xx
   end
   return wrk.format(nil, target, nil, bodies[index])
end

function done(summary, latency, requests)
   io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, summary.errors.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
