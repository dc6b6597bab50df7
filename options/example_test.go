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
