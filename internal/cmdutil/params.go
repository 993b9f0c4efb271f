package cmdutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
)

// ParamsHelp is the --params flag's help text.
const ParamsHelp = `--params opens the connection with parameters (spawn parameters): one JSON
object, inline or @file, that the server checks against the interface's params
schema (ifctl describe shows it) and hands to its handler for this connection.
Parameters that do not match are refused with where they are wrong (exit 68,
invalid_message).`

// AddParamsFlag adds --params.
func AddParamsFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "params", "", "open the connection with these parameters: `JSON` or @file (see the interface's params in describe)")
}

// ParamsOption reads a --params value into a connect option; "" gives none.
func ParamsOption(s string) ([]iface.ConnectOption, error) {
	if s == "" {
		return nil, nil
	}
	data := []byte(s)
	if strings.HasPrefix(s, "@") {
		var err error
		if data, err = os.ReadFile(s[1:]); err != nil {
			return nil, UsageError(fmt.Errorf("--params: %w", err))
		}
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, UsageError(errors.New("--params: not one JSON value (quote it for the shell: --params '{\"start\":10}')"))
	}
	return []iface.ConnectOption{iface.WithParams(json.RawMessage(data))}, nil
}

// ResumeHelp is the --resume flag's help text.
const ResumeHelp = `--resume opens a resumable connection: if the transport breaks (a killed
socket, a restarted relay, an address that went away), ifctl dials ADDR again
(every address of a comma-separated list) and resumes the connection where it
stopped, with nothing lost or repeated, within the server's grace period (30 s
by default; spec/PROTOCOL.md §4.10).`

// AddResumeFlag adds --resume.
func AddResumeFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "resume", false, "open a resumable connection: reconnect and resume it, losing nothing, if the transport breaks")
}
