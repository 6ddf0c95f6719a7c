module github.com/restyretry/restyretry/restyv3

go 1.24

require (
	github.com/restyretry/restyretry v0.0.0
	go.uber.org/goleak v1.3.0
	resty.dev/v3 v3.0.0-rc.4
)

require golang.org/x/net v0.43.0 // indirect

replace github.com/restyretry/restyretry => ../
