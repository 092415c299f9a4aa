// wsclient URL MESSAGE COUNT: sends MESSAGE over a WebSocket, prints COUNT received messages.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	c, resp, err := websocket.DefaultDialer.Dial(os.Args[1], nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		fmt.Println("dial error", status, err)
		os.Exit(1)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte(os.Args[2])); err != nil {
		fmt.Println("write error", err)
		os.Exit(1)
	}
	n, _ := strconv.Atoi(os.Args[3])
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < n; i++ {
		_, m, err := c.ReadMessage()
		if err != nil {
			fmt.Println("read error", err)
			os.Exit(1)
		}
		fmt.Println(string(m))
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
}
