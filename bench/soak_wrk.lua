-- Soak: each wrk thread sends its slice of the bodies file (one /1.0/sign body per line) exactly
-- once and stops when every answer came back; connections that ask for more after the slice is
-- sent get GET /health every 200 ms (counted apart) until then. A request lost with its
-- connection (a socket error) never answers: the thread gives up 10 s after its slice is sent.
-- Counts 201s and other statuses per thread.
--   wrk -d<upper bound> ... -s soak_wrk.lua URL -- BODIES THREADS
local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local nthreads = tonumber(args[2])
   bodies = {}
   local i = 0
   for line in io.lines(args[1]) do
      if i % nthreads == id then
         table.insert(bodies, line)
      end
      i = i + 1
   end
   index, ok, bad, health, exhausted_at = 0, 0, 0, 0, nil
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   health_request = wrk.format("GET", "/health", {}, nil)
   nbodies = #bodies
   -- wrk calls request() once on thread 0 to check it before the run: that call sends nothing
   verifying = (id == 0)
   stopped = false
end

function request()
   if verifying then
      verifying = false
      return health_request
   end
   index = index + 1
   if index > #bodies then
      exhausted_at = exhausted_at or os.time()
      return health_request
   end
   return wrk.format("POST", "/1.0/sign", nil, bodies[index])
end

function delay()
   if index >= #bodies then
      return 200
   end
   return 0
end

function response(status, headers, body)
   if status == 201 then
      ok = ok + 1
   elseif status == 200 then
      health = health + 1
   else
      bad = bad + 1
   end
   if ok + bad >= #bodies or (exhausted_at and os.time() - exhausted_at > 10) then
      if not stopped then
         -- wrk's main thread sleeps for -d whatever its threads do: soak.py sends it SIGINT
         -- once every thread printed this line
         stopped = true
         io.write("THREAD_DONE\n")
         io.flush()
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local ok_all, bad_all, health_all, lost_all = 0, 0, 0, 0
   for _, t in ipairs(threads) do
      lost_all = lost_all + t:get("nbodies") - t:get("ok") - t:get("bad")
      ok_all = ok_all + t:get("ok")
      bad_all = bad_all + t:get("bad")
      health_all = health_all + t:get("health")
   end
   local e = summary.errors
   io.write(string.format("SOAK ok=%d bad=%d lost=%d health=%d duration_us=%d connect=%d read=%d write=%d timeout=%d p99_us=%d\n",
      ok_all, bad_all, lost_all, health_all, summary.duration, e.connect, e.read, e.write, e.timeout, latency:percentile(99)))
end
