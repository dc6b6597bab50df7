package options_test

import (
	"errors"
	"fmt"

	"github.com/natsmesh/natsmesh/options"
)

// The flags of a stock nats-server cluster start a mesh node; the Options
// go to mesh.Start. A bad value is reported with the flag as typed.
func ExampleFromArgs() {
	o, err := options.FromArgs([]string{"-p", "5222", "-cluster", "nats://localhost:5248", "-routes", "nats://localhost:4248"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.Port, o.ClusterHost, o.ClusterPort, o.Seed)
	// node, err := mesh.Start(o)

	_, err = options.FromArgs([]string{"-p", "5222", "--http_port", "5222"})
	fmt.Println(err)
	var fe *options.FieldError
	if errors.As(err, &fe) {
		fmt.Println("flag:", fe.Field, "matches ErrInvalid:", errors.Is(err, options.ErrInvalid))
	}
	// Output:
	// 5222 localhost 5248 nats://localhost:4248
	// natsmesh: invalid option --http_port="5222": is also -p (on --addr "127.0.0.1"): two listeners cannot share a port
	// flag: --http_port matches ErrInvalid: true
}

// Secrets come from the environment (a container's, a systemd unit's)
// rather than the command line, where any local user can read them. A
// program passes os.LookupEnv; here a map stands in for the environment.
// Errors name the variable, never its value.
func ExampleFromArgsEnv() {
	env := map[string]string{options.EnvSecret: options.NewSecret()}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := options.FromArgsEnv([]string{"-cluster", "nats://localhost:5248"}, lookup)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("routes sealed:", o.Secret != "")
	// node, err := mesh.Start(o)

	env[options.EnvPass] = "a password without its --user"
	_, err = options.FromArgsEnv(nil, lookup)
	fmt.Println(err)
	// Output:
	// routes sealed: true
	// natsmesh: invalid option NATSMESH_PASS="": is a password for --user, which is not given
}
