-- wrk: POST the form body given after `--` (one argument, already URL-encoded).
-- Headers (Authorization, Content-Type) come from wrk's -H options.
wrk.method = "POST"

function init(args)
  wrk.body = args[1]
end
