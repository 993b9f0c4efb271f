package manifest_test

import (
	"errors"
	"fmt"

	"github.com/ifkit/ifkit/manifest"
)

func ExampleParse() {
	m, err := manifest.Parse("logs.yaml", []byte(`
ifkit: 1
name: logs.sink
version: 1.0.0
direction: recv
messages:
  recv:
    Line:
      schema: {type: object, required: [text], properties: {text: {type: string}}}
      examples: [{text: hello}]
`))
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Name, m.Direction, m.Codecs, m.Flow.Credits, m.Flow.OnExhausted)
	fmt.Println(string(m.Canonical())[:60], "…")
	// Output:
	// logs.sink recv [json] 256 block
	// {"codecs":["json"],"control":["ping","stats","pause","resume …
}

func ExampleErrorList() {
	_, err := manifest.Parse("broken.yaml", []byte(`
ifkit: 1
name: logs.sink
version: 1.0.0
direction: recv
flwo: {credits: 8}
messages:
  recv:
    Line: {schema: {type: string}, examples: [42]}
`))
	fmt.Println(err)
	var list manifest.ErrorList
	if errors.As(err, &list) {
		fmt.Println(len(list), "error; the first is at line", list[0].Line)
	}
	// Output:
	// broken.yaml:6:1: flwo: unknown field "flwo"; did you mean "flow"?
	// 1 error; the first is at line 6
}
